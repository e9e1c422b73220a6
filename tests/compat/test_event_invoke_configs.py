"""Event invoke configs through boto3, on SQLite and PostgreSQL, as AWS answers them."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import error_of as error
from support.lambda_calls import function_arn as arn
from support.lambda_calls import new_function, unique
from support.server import ACCOUNT_ID, REGION, ROLE
from support.zips import handler_zip

pytestmark = pytest.mark.compat


def test_put_get_update_list_delete(lambda_client: Any) -> None:
    name = new_function(lambda_client, "eic")
    target = new_function(lambda_client, "eic")
    put = lambda_client.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=3600
    )
    assert put["FunctionArn"] == arn(name, "$LATEST")
    assert put["MaximumRetryAttempts"] == 1
    assert put["MaximumEventAgeInSeconds"] == 3600
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    assert put["LastModified"].year >= 2024

    got = lambda_client.get_function_event_invoke_config(FunctionName=name)
    assert {k: got[k] for k in ("FunctionArn", "MaximumRetryAttempts")} == {
        "FunctionArn": arn(name, "$LATEST"),
        "MaximumRetryAttempts": 1,
    }

    # Update changes only what it names.
    updated = lambda_client.update_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": arn(target)}}
    )
    assert updated["MaximumRetryAttempts"] == 1
    assert updated["MaximumEventAgeInSeconds"] == 3600
    assert updated["DestinationConfig"] == {
        "OnSuccess": {},
        "OnFailure": {"Destination": arn(target)},
    }

    # Put replaces the whole config.
    replaced = lambda_client.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=0
    )
    assert "MaximumEventAgeInSeconds" not in replaced
    assert replaced["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}

    listed = lambda_client.list_function_event_invoke_configs(FunctionName=name)
    assert [c["FunctionArn"] for c in listed["FunctionEventInvokeConfigs"]] == [
        arn(name, "$LATEST")
    ]

    lambda_client.delete_function_event_invoke_config(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function_event_invoke_config(FunctionName=name)
    assert error(exc) == (
        "ResourceNotFoundException",
        f"The function {arn(name, '$LATEST')} doesn't have an EventInvokeConfig",
        404,
    )
    assert (
        lambda_client.list_function_event_invoke_configs(FunctionName=name)[
            "FunctionEventInvokeConfigs"
        ]
        == []
    )


def test_configs_per_version_are_separate_and_go_with_the_function(lambda_client: Any) -> None:
    name = new_function(lambda_client, "eic", publish=True)
    lambda_client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2)
    lambda_client.put_function_event_invoke_config(
        FunctionName=name, Qualifier="1", MaximumRetryAttempts=0
    )
    by_qualified_name = lambda_client.get_function_event_invoke_config(FunctionName=f"{name}:1")
    assert by_qualified_name["FunctionArn"] == arn(name, "1")
    assert by_qualified_name["MaximumRetryAttempts"] == 0
    page = lambda_client.list_function_event_invoke_configs(FunctionName=name, MaxItems=1)
    assert len(page["FunctionEventInvokeConfigs"]) == 1
    rest = lambda_client.list_function_event_invoke_configs(
        FunctionName=name, Marker=page["NextMarker"]
    )
    arns = {c["FunctionArn"] for c in page["FunctionEventInvokeConfigs"]} | {
        c["FunctionArn"] for c in rest["FunctionEventInvokeConfigs"]
    }
    assert arns == {arn(name, "$LATEST"), arn(name, "1")}
    assert "NextMarker" not in rest

    lambda_client.delete_function(FunctionName=name, Qualifier="1")
    left = lambda_client.list_function_event_invoke_configs(FunctionName=name)
    assert [c["FunctionArn"] for c in left["FunctionEventInvokeConfigs"]] == [arn(name, "$LATEST")]
    lambda_client.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lambda_client.list_function_event_invoke_configs(FunctionName=name)
    assert error(exc)[0] == "ResourceNotFoundException"
    # A new function of the same name starts without the old one's config.
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": handler_zip("again")},
    )
    assert (
        lambda_client.list_function_event_invoke_configs(FunctionName=name)[
            "FunctionEventInvokeConfigs"
        ]
        == []
    )


def test_missing_targets(lambda_client: Any) -> None:
    name = new_function(lambda_client, "eic")
    missing = unique("missing")
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_event_invoke_config(FunctionName=missing, MaximumRetryAttempts=1)
    assert error(exc) == ("ResourceNotFoundException", "The function doesn't exist.", 404)
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_event_invoke_config(
            FunctionName=name, Qualifier="7", MaximumRetryAttempts=1
        )
    assert error(exc) == ("ResourceNotFoundException", "The function doesn't exist.", 404)
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    assert error(exc) == (
        "ResourceNotFoundException",
        f"The function {arn(name, '$LATEST')} doesn't have an EventInvokeConfig",
        404,
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.delete_function_event_invoke_config(FunctionName=name)
    assert error(exc)[0] == "ResourceNotFoundException"


def test_values_out_of_range_and_empty_requests(raw_client: Any, lambda_client: Any) -> None:
    name = new_function(lambda_client, "eic")
    with pytest.raises(ClientError) as exc:
        raw_client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=3)
    assert error(exc) == (
        "ValidationException",
        "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy "
        "constraint: Member must have value less than or equal to 2",
        400,
    )
    with pytest.raises(ClientError) as exc:
        raw_client.put_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=59)
    assert error(exc) == (
        "ValidationException",
        "1 validation error detected: Value '59' at 'maximumEventAgeInSeconds' failed to satisfy "
        "constraint: Member must have value greater than or equal to 60",
        400,
    )
    with pytest.raises(ClientError) as exc:
        raw_client.put_function_event_invoke_config(
            FunctionName=name, MaximumEventAgeInSeconds=21601
        )
    assert error(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_event_invoke_config(FunctionName=name)
    assert error(exc) == (
        "InvalidParameterValueException",
        "You must specify at least one of error handling or destination setting.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        raw_client.list_function_event_invoke_configs(FunctionName=name, MaxItems=51)
    assert error(exc)[0] == "ValidationException"


@pytest.mark.parametrize(
    "destination",
    [
        f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:queue",
        f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:topic",
        "arn:aws:s3:::bucket",
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/default",
    ],
)
def test_destinations_lambdad_cannot_deliver_to_are_refused(
    lambda_client: Any, destination: str
) -> None:
    name = new_function(lambda_client, "eic")
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnFailure": {"Destination": destination}}
        )
    code, message, status = error(exc)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.startswith(f"The destination ARN {destination} is invalid: ")
    assert "Use a Lambda function as the destination." in message
    with pytest.raises(ClientError):
        lambda_client.get_function_event_invoke_config(FunctionName=name)


def test_function_destinations_are_checked(lambda_client: Any, raw_client: Any) -> None:
    name = new_function(lambda_client, "eic")
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": arn(name)}}
        )
    assert error(exc) == (
        "InvalidParameterValueException",
        "You can't specify the function as a destination for itself.",
        400,
    )
    missing = arn(unique("missing"))
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": missing}}
        )
    assert error(exc) == (
        "InvalidParameterValueException",
        f"The destination ARN {missing} is invalid.",
        400,
    )
    elsewhere = f"arn:aws:lambda:eu-west-1:{ACCOUNT_ID}:function:{name}"
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": elsewhere}}
        )
    assert error(exc)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        raw_client.put_function_event_invoke_config(
            FunctionName=name, DestinationConfig={"OnFailure": {"Destination": "not-an-arn"}}
        )
    code, message, _ = error(exc)
    assert code == "ValidationException"
    assert "at 'destinationConfig.onFailure.destination'" in message


@pytest.mark.parametrize(
    "target",
    [f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:dlq", f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:dlq"],
)
def test_dead_letter_config_is_refused_until_lambdad_has_queues(
    lambda_client: Any, target: str
) -> None:
    name = unique("dlq")
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": handler_zip(name)},
            DeadLetterConfig={"TargetArn": target},
        )
    code, message, _ = error(exc)
    assert code == "InvalidParameterValueException"
    assert target in message and "OnFailure destination" in message
    with pytest.raises(ClientError):
        lambda_client.get_function(FunctionName=name)

    existing = new_function(lambda_client, "eic")
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_configuration(
            FunctionName=existing, DeadLetterConfig={"TargetArn": target}
        )
    assert error(exc)[0] == "InvalidParameterValueException"
    # An empty TargetArn removes a dead-letter queue: always accepted.
    lambda_client.update_function_configuration(
        FunctionName=existing, DeadLetterConfig={"TargetArn": ""}
    )
    configuration = lambda_client.get_function_configuration(FunctionName=existing)
    assert "DeadLetterConfig" not in configuration


def test_aliases_have_their_own_config_which_goes_with_the_alias(lambda_client: Any) -> None:
    name = new_function(lambda_client, "eic", publish=True)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    put = lambda_client.put_function_event_invoke_config(
        FunctionName=name, Qualifier="live", MaximumEventAgeInSeconds=120
    )
    assert put["FunctionArn"] == arn(name, "live")
    assert (
        lambda_client.get_function_event_invoke_config(FunctionName=f"{name}:live")[
            "MaximumEventAgeInSeconds"
        ]
        == 120
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_event_invoke_config(
            FunctionName=name, Qualifier="nope", MaximumRetryAttempts=1
        )
    assert error(exc) == ("ResourceNotFoundException", "The function doesn't exist.", 404)
    lambda_client.delete_alias(FunctionName=name, Name="live")
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function_event_invoke_config(FunctionName=name, Qualifier="live")
    assert error(exc)[0] == "ResourceNotFoundException"
