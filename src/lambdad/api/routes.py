"""The route table: every path, as in botocore's lambda and scheduler service models,
and the JSON protocol's one (`POST /`, dispatched on X-Amz-Target)."""

from __future__ import annotations

from starlette.routing import Route

from lambdad.api import (
    aliases,
    code_links,
    concurrency,
    event_invoke,
    function_urls,
    functions,
    images,
    invoke,
    invoke_stream,
    json_protocol,
    layers,
    log_retention,
    policies,
    prometheus,
    rpc_cbor,
    scheduler,
    xray,
)

FUNCTION = "/2015-03-31/functions/{FunctionName}"
TAGS = "/2017-03-31/tags/{Resource:path}"
LAYER_VERSION = "/2018-10-31/layers/{LayerName}/versions/{VersionNumber}"
EVENT_INVOKE = "/2019-09-25/functions/{FunctionName}/event-invoke-config"
LOG_RETENTION = "/_lambdad/functions/{FunctionName}/logs/retention"
RESERVED = "/2017-10-31/functions/{FunctionName}/concurrency"
PROVISIONED = "/2019-09-30/functions/{FunctionName}/provisioned-concurrency"
RECURSION = "/2024-08-31/functions/{FunctionName}/recursion-config"
FUNCTION_URL = "/2021-10-31/functions/{FunctionName}/url"
# EventBridge Scheduler (botocore's `scheduler` model): no version prefix, no clash.
SCHEDULE = "/schedules/{Name}"
SCHEDULE_GROUP = "/schedule-groups/{Name}"
SCHEDULER_TAGS = "/tags/{ResourceArn:path}"

routes = [
    Route("/2015-03-31/functions", functions.create_function, methods=["POST"]),
    Route("/2015-03-31/functions/", functions.list_functions, methods=["GET"]),
    Route("/2015-03-31/functions", functions.list_functions, methods=["GET"]),
    Route(FUNCTION, functions.get_function, methods=["GET"]),
    Route(FUNCTION, functions.delete_function, methods=["DELETE"]),
    Route(f"{FUNCTION}/configuration", functions.get_function_configuration, methods=["GET"]),
    Route(f"{FUNCTION}/configuration", functions.update_function_configuration, methods=["PUT"]),
    Route(f"{FUNCTION}/code", functions.update_function_code, methods=["PUT"]),
    Route(f"{FUNCTION}/versions", functions.publish_version, methods=["POST"]),
    Route(f"{FUNCTION}/versions", functions.list_versions_by_function, methods=["GET"]),
    Route(f"{FUNCTION}/aliases", aliases.create_alias, methods=["POST"]),
    Route(f"{FUNCTION}/aliases", aliases.list_aliases, methods=["GET"]),
    Route(f"{FUNCTION}/aliases/{{Name}}", aliases.get_alias, methods=["GET"]),
    Route(f"{FUNCTION}/aliases/{{Name}}", aliases.update_alias, methods=["PUT"]),
    Route(f"{FUNCTION}/aliases/{{Name}}", aliases.delete_alias, methods=["DELETE"]),
    Route(TAGS, functions.tag_resource, methods=["POST"]),
    Route(TAGS, functions.untag_resource, methods=["DELETE"]),
    Route(TAGS, functions.list_tags, methods=["GET"]),
    Route("/2016-08-19/account-settings", functions.get_account_settings, methods=["GET"]),
    Route("/2016-08-19/account-settings/", functions.get_account_settings, methods=["GET"]),
    Route(RESERVED, concurrency.put_function_concurrency, methods=["PUT"]),
    Route(RESERVED, concurrency.delete_function_concurrency, methods=["DELETE"]),
    Route(
        "/2019-09-30/functions/{FunctionName}/concurrency",
        concurrency.get_function_concurrency,
        methods=["GET"],
    ),
    Route(PROVISIONED, concurrency.put_provisioned_concurrency_config, methods=["PUT"]),
    Route(PROVISIONED, concurrency.get_provisioned_concurrency_config, methods=["GET"]),
    Route(PROVISIONED, concurrency.delete_provisioned_concurrency_config, methods=["DELETE"]),
    Route(RECURSION, concurrency.put_function_recursion_config, methods=["PUT"]),
    Route(RECURSION, concurrency.get_function_recursion_config, methods=["GET"]),
    Route(f"{FUNCTION}/invocations", invoke.invoke, methods=["POST"]),
    Route(
        "/2014-11-13/functions/{FunctionName}/invoke-async", invoke.invoke_async, methods=["POST"]
    ),
    Route(
        "/2021-11-15/functions/{FunctionName}/response-streaming-invocations",
        invoke_stream.invoke_with_response_stream,
        methods=["POST"],
    ),
    Route("/2018-10-31/layers", layers.list_layers, methods=["GET"]),
    Route("/2018-10-31/layers/", layers.list_layers, methods=["GET"]),
    Route(
        "/2018-10-31/layers/{LayerName}/versions", layers.publish_layer_version, methods=["POST"]
    ),
    Route("/2018-10-31/layers/{LayerName}/versions", layers.list_layer_versions, methods=["GET"]),
    Route(LAYER_VERSION, layers.get_layer_version, methods=["GET"]),
    Route(LAYER_VERSION, layers.delete_layer_version, methods=["DELETE"]),
    Route(f"{LAYER_VERSION}/policy", layers.add_layer_version_permission, methods=["POST"]),
    Route(f"{LAYER_VERSION}/policy", layers.get_layer_version_policy, methods=["GET"]),
    Route(
        f"{LAYER_VERSION}/policy/{{StatementId}}",
        layers.remove_layer_version_permission,
        methods=["DELETE"],
    ),
    Route(f"{FUNCTION}/policy", policies.add_permission, methods=["POST"]),
    Route(f"{FUNCTION}/policy", policies.get_policy, methods=["GET"]),
    Route(f"{FUNCTION}/policy/{{StatementId}}", policies.remove_permission, methods=["DELETE"]),
    Route(EVENT_INVOKE, event_invoke.put_function_event_invoke_config, methods=["PUT"]),
    Route(EVENT_INVOKE, event_invoke.update_function_event_invoke_config, methods=["POST"]),
    Route(EVENT_INVOKE, event_invoke.get_function_event_invoke_config, methods=["GET"]),
    Route(EVENT_INVOKE, event_invoke.delete_function_event_invoke_config, methods=["DELETE"]),
    Route(f"{EVENT_INVOKE}/list", event_invoke.list_function_event_invoke_configs, methods=["GET"]),
    Route(FUNCTION_URL, function_urls.create_function_url_config, methods=["POST"]),
    Route(FUNCTION_URL, function_urls.get_function_url_config, methods=["GET"]),
    Route(FUNCTION_URL, function_urls.update_function_url_config, methods=["PUT"]),
    Route(FUNCTION_URL, function_urls.delete_function_url_config, methods=["DELETE"]),
    Route(f"{FUNCTION_URL}s", function_urls.list_function_url_configs, methods=["GET"]),
    Route("/_lambdad/functions/{FunctionName}/logs", invoke.function_logs, methods=["GET"]),
    Route(LOG_RETENTION, log_retention.get_retention, methods=["GET"]),
    Route(LOG_RETENTION, log_retention.put_retention, methods=["PUT"]),
    Route(LOG_RETENTION, log_retention.delete_retention, methods=["DELETE"]),
    Route("/_lambdad/code/{key}", code_links.download_code, methods=["GET"]),
    Route("/_lambdad/images", images.import_image, methods=["POST"]),
    Route("/_lambdad/images/pull", images.pull_image, methods=["POST"]),
    Route("/_lambdad/images", images.list_images, methods=["GET"]),
    Route("/_lambdad/images", images.delete_image, methods=["DELETE"]),
    # AWS's JSON protocol (X-Amz-Target): the events API.
    Route("/", json_protocol.dispatch, methods=["POST"]),
    # Smithy RPC v2 CBOR (boto3's default for CloudWatch): the metrics API.
    Route("/service/{Service}/operation/{Operation}", rpc_cbor.dispatch, methods=["POST"]),
    Route("/metrics", prometheus.metrics_text, methods=["GET"]),
    # X-Ray (botocore's `xray` model): the recent traces.
    Route("/TraceSummaries", xray.get_trace_summaries, methods=["POST"]),
    Route("/Traces", xray.batch_get_traces, methods=["POST"]),
    Route(SCHEDULE, scheduler.create_schedule, methods=["POST"]),
    Route(SCHEDULE, scheduler.get_schedule, methods=["GET"]),
    Route(SCHEDULE, scheduler.update_schedule, methods=["PUT"]),
    Route(SCHEDULE, scheduler.delete_schedule, methods=["DELETE"]),
    Route("/schedules", scheduler.list_schedules, methods=["GET"]),
    Route(SCHEDULE_GROUP, scheduler.create_schedule_group, methods=["POST"]),
    Route(SCHEDULE_GROUP, scheduler.get_schedule_group, methods=["GET"]),
    Route(SCHEDULE_GROUP, scheduler.delete_schedule_group, methods=["DELETE"]),
    Route("/schedule-groups", scheduler.list_schedule_groups, methods=["GET"]),
    Route(SCHEDULER_TAGS, scheduler.tag_resource, methods=["POST"]),
    Route(SCHEDULER_TAGS, scheduler.untag_resource, methods=["DELETE"]),
    Route(SCHEDULER_TAGS, scheduler.list_tags_for_resource, methods=["GET"]),
]
