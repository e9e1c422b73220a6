"""Reserved and provisioned concurrency, account settings and recursion configs
through boto3, on SQLite and PostgreSQL, as AWS answers them."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from lambdad.invoke.recursion import function_key
from support.lambda_calls import FAST_WAIT, code_and_message, new_function, wait_provisioned
from support.lambda_calls import function_arn as arn
from support.server import LambdadServer, http_auth
from support.waiting import DEFAULT_TIMEOUT_S

pytestmark = pytest.mark.compat

ROOT = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"


@pytest.fixture
def function(lambda_client: Any) -> Iterator[str]:
    """A fresh Active function, deleted afterwards (its settings go with it)."""
    name = new_function(lambda_client, "conc")
    try:
        yield name
    finally:
        lambda_client.delete_function(FunctionName=name)


def unreserved(client: Any) -> int:
    return int(client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"])


def test_reserved_concurrency_put_get_delete(lambda_client: Any, function: str) -> None:
    before = unreserved(lambda_client)
    assert (
        lambda_client.get_function_concurrency(FunctionName=function).get(
            "ReservedConcurrentExecutions"
        )
        is None
    )
    assert "Concurrency" not in lambda_client.get_function(FunctionName=function)

    answer = lambda_client.put_function_concurrency(
        FunctionName=function, ReservedConcurrentExecutions=7
    )
    assert answer["ReservedConcurrentExecutions"] == 7
    got = lambda_client.get_function_concurrency(FunctionName=arn(function))
    assert got["ReservedConcurrentExecutions"] == 7
    assert lambda_client.get_function(FunctionName=function)["Concurrency"] == {
        "ReservedConcurrentExecutions": 7
    }
    assert unreserved(lambda_client) == before - 7

    lambda_client.delete_function_concurrency(FunctionName=function)
    assert "ReservedConcurrentExecutions" not in lambda_client.get_function_concurrency(
        FunctionName=function
    )
    assert unreserved(lambda_client) == before


def test_unreserved_concurrency_never_drops_below_100(lambda_client: Any, function: str) -> None:
    limit = int(lambda_client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"])
    too_much = unreserved(lambda_client) - 99
    with pytest.raises(ClientError) as refused:
        lambda_client.put_function_concurrency(
            FunctionName=function, ReservedConcurrentExecutions=too_much
        )
    assert code_and_message(refused) == (
        "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100].",
    )
    exactly = unreserved(lambda_client) - 100
    lambda_client.put_function_concurrency(
        FunctionName=function, ReservedConcurrentExecutions=exactly
    )
    assert unreserved(lambda_client) == 100
    assert limit == 1000
    lambda_client.delete_function_concurrency(FunctionName=function)


def test_concurrency_errors(lambda_client: Any, raw_client: Any, function: str) -> None:
    missing = f"missing-{uuid.uuid4().hex[:8]}"
    calls: list[tuple[str, dict[str, Any]]] = [
        ("put_function_concurrency", {"ReservedConcurrentExecutions": 1}),
        ("get_function_concurrency", {}),
        ("delete_function_concurrency", {}),
        ("put_function_recursion_config", {"RecursiveLoop": "Allow"}),
        ("get_function_recursion_config", {}),
        ("list_provisioned_concurrency_configs", {}),
    ]
    for operation, params in calls:
        with pytest.raises(ClientError) as not_found:
            getattr(lambda_client, operation)(FunctionName=missing, **params)
        assert code_and_message(not_found) == (
            "ResourceNotFoundException",
            f"Function not found: {arn(missing)}",
        )
    with pytest.raises(ClientError) as negative:
        raw_client.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=-1)
    assert code_and_message(negative)[0] == "ValidationException"
    with pytest.raises(ClientError) as bad_loop:
        raw_client.put_function_recursion_config(FunctionName=function, RecursiveLoop="Maybe")
    assert code_and_message(bad_loop)[0] == "ValidationException"


def test_recursion_config_defaults_to_terminate(lambda_client: Any, function: str) -> None:
    assert (
        lambda_client.get_function_recursion_config(FunctionName=function)["RecursiveLoop"]
        == "Terminate"
    )
    answer = lambda_client.put_function_recursion_config(
        FunctionName=function, RecursiveLoop="Allow"
    )
    assert answer["RecursiveLoop"] == "Allow"
    assert (
        lambda_client.get_function_recursion_config(FunctionName=function)["RecursiveLoop"]
        == "Allow"
    )
    lambda_client.put_function_recursion_config(FunctionName=function, RecursiveLoop="Terminate")
    assert (
        lambda_client.get_function_recursion_config(FunctionName=function)["RecursiveLoop"]
        == "Terminate"
    )


def test_account_settings_count_functions_and_code(lambda_client: Any, function: str) -> None:
    settings = lambda_client.get_account_settings()
    limit, usage = settings["AccountLimit"], settings["AccountUsage"]
    assert limit["CodeSizeUnzipped"] == 262_144_000
    assert limit["CodeSizeZipped"] == 52_428_800
    assert limit["TotalCodeSize"] == 80_530_636_800
    assert usage["FunctionCount"] >= 1
    size = lambda_client.get_function(FunctionName=function)["Configuration"]["CodeSize"]
    assert usage["TotalCodeSize"] >= size


def test_provisioned_concurrency_on_a_version(lambda_client: Any, function: str) -> None:
    version = lambda_client.publish_version(FunctionName=function)["Version"]
    before = unreserved(lambda_client)
    put = lambda_client.put_provisioned_concurrency_config(
        FunctionName=function, Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    assert put["RequestedProvisionedConcurrentExecutions"] == 1
    assert put["Status"] in ("IN_PROGRESS", "READY")
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    ready = wait_provisioned(lambda_client, function, version)
    assert ready["Status"] == "READY"
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 1
    assert ready["AvailableProvisionedConcurrentExecutions"] == 1
    assert ready["LastModified"] == put["LastModified"]
    # Provisioned concurrency of a function without a reservation comes out of the pool.
    assert unreserved(lambda_client) == before - 1

    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=function)
    [item] = listed["ProvisionedConcurrencyConfigs"]
    assert item["FunctionArn"] == arn(function, version)
    assert item["Status"] == "READY"

    lambda_client.delete_provisioned_concurrency_config(FunctionName=function, Qualifier=version)
    with pytest.raises(ClientError) as gone:
        lambda_client.get_provisioned_concurrency_config(FunctionName=function, Qualifier=version)
    assert code_and_message(gone) == (
        "ProvisionedConcurrencyConfigNotFoundException",
        "No Provisioned Concurrency Config found for this function",
    )
    assert (
        lambda_client.list_provisioned_concurrency_configs(FunctionName=function)[
            "ProvisionedConcurrencyConfigs"
        ]
        == []
    )
    assert unreserved(lambda_client) == before


def test_provisioned_concurrency_errors(lambda_client: Any, function: str) -> None:
    with pytest.raises(ClientError) as latest:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    assert code_and_message(latest) == (
        "InvalidParameterValueException",
        "Provisioned Concurrency Configs cannot be applied to unpublished function versions.",
    )
    with pytest.raises(ClientError) as get_latest:
        lambda_client.get_provisioned_concurrency_config(FunctionName=function, Qualifier="$LATEST")
    assert code_and_message(get_latest) == (
        "InvalidParameterValueException",
        "The function resource provided must be an alias or a published version.",
    )
    with pytest.raises(ClientError) as no_version:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier="42", ProvisionedConcurrentExecutions=1
        )
    assert code_and_message(no_version) == (
        "ResourceNotFoundException",
        f"Function not found: {arn(function, '42')}",
    )
    with pytest.raises(ClientError) as no_alias:
        lambda_client.get_provisioned_concurrency_config(FunctionName=function, Qualifier="live")
    assert code_and_message(no_alias)[0] == "ResourceNotFoundException"

    version = lambda_client.publish_version(FunctionName=function)["Version"]
    with pytest.raises(ClientError) as none_yet:
        lambda_client.get_provisioned_concurrency_config(FunctionName=function, Qualifier=version)
    assert code_and_message(none_yet)[0] == "ProvisionedConcurrencyConfigNotFoundException"

    # Provisioned concurrency counts against the function's reservation.
    lambda_client.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=1)
    with pytest.raises(ClientError) as over_reserved:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier=version, ProvisionedConcurrentExecutions=2
        )
    assert code_and_message(over_reserved) == (
        "InvalidParameterValueException",
        "Requested Provisioned Concurrency should not be greater than the "
        "reservedConcurrentExecution for function",
    )
    lambda_client.delete_function_concurrency(FunctionName=function)
    with pytest.raises(ClientError) as over_account:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier=version, ProvisionedConcurrentExecutions=950
        )
    assert code_and_message(over_account) == (
        "InvalidParameterValueException",
        "Specified ConcurrentExecutions for function decreases account's "
        "UnreservedConcurrentExecution below its minimum value of [100].",
    )


def test_an_invoke_that_loops_back_a_17th_time_is_stopped(
    server: LambdadServer, lambda_client: Any, function: str
) -> None:
    def invoke(count: int) -> httpx.Response:
        lineage = f"{function_key(arn(function))}:{count}"
        return httpx.post(
            f"{server.url}/2015-03-31/functions/{function}/invocations",
            content=b"{}",
            headers={"X-Amzn-Trace-Id": f"{ROOT};Lineage={lineage}"},
            timeout=30,
            auth=http_auth(server.url),
        )

    assert invoke(15).status_code == 200  # the 16th invocation by this chain runs
    stopped = invoke(16)
    assert stopped.status_code == 400
    assert stopped.headers["x-amzn-ErrorType"] == "RecursiveInvocationException"
    assert "recursive loop" in stopped.json()["message"]

    lambda_client.put_function_recursion_config(FunctionName=function, RecursiveLoop="Allow")
    assert invoke(16).status_code == 200


def test_provisioned_concurrency_on_an_alias(lambda_client: Any, function: str) -> None:
    first = lambda_client.publish_version(FunctionName=function)["Version"]
    lambda_client.update_function_configuration(
        FunctionName=function, Environment={"Variables": {"STAGE": "2"}}
    )
    lambda_client.get_waiter("function_updated_v2").wait(
        FunctionName=function, WaiterConfig=FAST_WAIT
    )
    second = lambda_client.publish_version(FunctionName=function)["Version"]
    lambda_client.create_alias(FunctionName=function, Name="live", FunctionVersion=first)
    lambda_client.create_alias(
        FunctionName=function,
        Name="canary",
        FunctionVersion=first,
        RoutingConfig={"AdditionalVersionWeights": {second: 0.1}},
    )
    with pytest.raises(ClientError) as weighted:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier="canary", ProvisionedConcurrentExecutions=1
        )
    assert code_and_message(weighted) == (
        "InvalidParameterValueException",
        "Alias with weights can not be used with Provisioned Concurrency",
    )

    lambda_client.put_provisioned_concurrency_config(
        FunctionName=function, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    assert wait_provisioned(lambda_client, function, "live")["Status"] == "READY"
    with pytest.raises(ClientError) as pointed:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier=first, ProvisionedConcurrentExecutions=1
        )
    assert code_and_message(pointed) == (
        "ResourceConflictException",
        "Version is pointed by a Provisioned Concurrency alias",
    )
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=function, Qualifier=second, ProvisionedConcurrentExecutions=1
    )
    lambda_client.create_alias(FunctionName=function, Name="next", FunctionVersion=second)
    with pytest.raises(ClientError) as already:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier="next", ProvisionedConcurrentExecutions=1
        )
    assert code_and_message(already) == (
        "ResourceConflictException",
        "Alias can't be used for Provisioned Concurrency configuration on an already "
        "Provisioned version",
    )
    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=function)
    assert sorted(c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]) == sorted(
        [arn(function, "live"), arn(function, second)]
    )
    # Deleting the alias deletes its config.
    lambda_client.delete_alias(FunctionName=function, Name="live")
    deadline = time.monotonic() + DEFAULT_TIMEOUT_S
    while time.monotonic() < deadline:
        configs = lambda_client.list_provisioned_concurrency_configs(FunctionName=function)
        if len(configs["ProvisionedConcurrencyConfigs"]) == 1:
            break
        time.sleep(0.05)
    assert [c["FunctionArn"] for c in configs["ProvisionedConcurrencyConfigs"]] == [
        arn(function, second)
    ]


def test_provisioned_configs_are_listed_in_pages(lambda_client: Any, function: str) -> None:
    versions = []
    for stage in ("a", "b", "c"):
        lambda_client.update_function_configuration(
            FunctionName=function, Environment={"Variables": {"STAGE": stage}}
        )
        lambda_client.get_waiter("function_updated_v2").wait(
            FunctionName=function, WaiterConfig=FAST_WAIT
        )
        versions.append(lambda_client.publish_version(FunctionName=function)["Version"])
    for version in versions:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function, Qualifier=version, ProvisionedConcurrentExecutions=1
        )
    seen: list[str] = []
    marker: str | None = None
    for _ in range(5):
        page = lambda_client.list_provisioned_concurrency_configs(
            FunctionName=function, MaxItems=2, **({"Marker": marker} if marker else {})
        )
        assert len(page["ProvisionedConcurrencyConfigs"]) <= 2
        seen += [c["FunctionArn"] for c in page["ProvisionedConcurrencyConfigs"]]
        marker = page.get("NextMarker")
        if marker is None:
            break
    assert sorted(seen) == sorted(arn(function, v) for v in versions)

    # A reservation below the function's provisioned concurrency is refused.
    with pytest.raises(ClientError) as below:
        lambda_client.put_function_concurrency(
            FunctionName=function, ReservedConcurrentExecutions=2
        )
    assert code_and_message(below)[0] == "InvalidParameterValueException"
    assert (
        lambda_client.put_function_concurrency(
            FunctionName=function, ReservedConcurrentExecutions=3
        )["ReservedConcurrentExecutions"]
        == 3
    )
    lambda_client.delete_function_concurrency(FunctionName=function)
