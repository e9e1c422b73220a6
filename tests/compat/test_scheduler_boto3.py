"""EventBridge Scheduler through boto3's `scheduler` client: schedules and groups as
AWS answers them (shapes, defaults, paging, errors), on the same port as Lambda."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.server import ACCOUNT_ID, REGION, LambdadServer, boto3_client

pytestmark = pytest.mark.compat

ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/scheduler-role"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:nightly"
OFF = {"Mode": "OFF"}


@pytest.fixture
def scheduler(server: LambdadServer) -> Any:
    return boto3_client(server.url, service="scheduler")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def error_of(call: Any, **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    error = raised.value.response
    return (
        error["Error"]["Code"],
        error["Error"]["Message"],
        error["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_create_get_update_delete_a_schedule(scheduler: Any) -> None:
    name = unique("nightly")
    arn = scheduler.create_schedule(
        Name=name,
        ScheduleExpression="cron(0 2 * * ? *)",
        ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target={"Arn": FUNCTION, "RoleArn": ROLE, "Input": '{"job": "nightly"}'},
        Description="nightly job",
    )["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/{name}"

    got = scheduler.get_schedule(Name=name)
    assert got["Arn"] == arn
    assert got["Name"] == name
    assert got["GroupName"] == "default"
    assert got["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["State"] == "ENABLED"
    assert got["Description"] == "nightly job"
    assert got["ActionAfterCompletion"] == "NONE"
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert got["Target"] == {
        "Arn": FUNCTION,
        "RoleArn": ROLE,
        "Input": '{"job": "nightly"}',
        "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
    }
    assert isinstance(got["CreationDate"], datetime)

    start = datetime.now(UTC) + timedelta(days=1)
    scheduler.update_schedule(
        Name=name,
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow=OFF,
        Target={
            "Arn": f"{FUNCTION}:live",
            "RoleArn": ROLE,
            "RetryPolicy": {"MaximumEventAgeInSeconds": 600, "MaximumRetryAttempts": 3},
        },
        State="DISABLED",
        StartDate=start,
    )
    got = scheduler.get_schedule(Name=name, GroupName="default")
    assert got["ScheduleExpression"] == "rate(1 hour)"
    assert got["ScheduleExpressionTimezone"] == "UTC"
    assert got["State"] == "DISABLED"
    assert "Description" not in got  # Update replaces the whole configuration
    assert abs(got["StartDate"].timestamp() - start.timestamp()) < 0.01
    assert got["Target"]["Arn"] == f"{FUNCTION}:live"
    assert "Input" not in got["Target"]
    assert got["Target"]["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": 600,
        "MaximumRetryAttempts": 3,
    }
    assert got["LastModificationDate"] >= got["CreationDate"]

    scheduler.delete_schedule(Name=name)
    code, message, status = error_of(scheduler.get_schedule, Name=name)
    assert (code, message, status) == (
        "ResourceNotFoundException",
        f"Schedule {name} does not exist.",
        404,
    )
    code, message, status = error_of(scheduler.delete_schedule, Name=name)
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_a_one_time_schedule(scheduler: Any) -> None:
    name = unique("once")
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression="at(2031-01-01T09:00:00)",
        FlexibleTimeWindow=OFF,
        Target={"Arn": FUNCTION, "RoleArn": ROLE},
        ActionAfterCompletion="DELETE",
    )
    got = scheduler.get_schedule(Name=name)
    assert got["ScheduleExpression"] == "at(2031-01-01T09:00:00)"
    assert got["ActionAfterCompletion"] == "DELETE"
    scheduler.delete_schedule(Name=name)


def test_a_name_is_unique_in_its_group(scheduler: Any) -> None:
    name = unique("twice")
    request = {
        "Name": name,
        "ScheduleExpression": "rate(5 minutes)",
        "FlexibleTimeWindow": OFF,
        "Target": {"Arn": FUNCTION, "RoleArn": ROLE},
    }
    scheduler.create_schedule(**request)
    code, message, status = error_of(scheduler.create_schedule, **request)
    assert (code, message, status) == ("ConflictException", f"Schedule {name} already exists.", 409)
    scheduler.delete_schedule(Name=name)


INVALID = [
    ({"ScheduleExpression": "rate(5 minute)"}, "Invalid Schedule Expression rate(5 minute)."),
    ({"ScheduleExpression": "cron(0 10 * * *)"}, "Invalid Schedule Expression cron(0 10 * * *)."),
    ({"ScheduleExpression": "cron(0 10 * * MON *)"}, "Invalid Schedule Expression"),
    ({"ScheduleExpression": "at(2030-02-30T10:00:00)"}, "Invalid Schedule Expression"),
    ({"ScheduleExpressionTimezone": "Mars/Olympus"}, "Invalid Schedule Expression Timezone"),
    ({"FlexibleTimeWindow": {"Mode": "FLEXIBLE"}}, "MaximumWindowInMinutes"),
    (
        {"FlexibleTimeWindow": {"Mode": "SOMETIMES"}},
        "Member must satisfy enum value set: [OFF, FLEXIBLE]",
    ),
    ({"State": "PAUSED"}, "Member must satisfy enum value set: [ENABLED, DISABLED]"),
    ({"Target": {"Arn": FUNCTION, "RoleArn": "not-a-role"}}, "roleArn"),
    (
        {"Target": {"Arn": "arn:aws:sqs:us-east-1:000000000000:queue", "RoleArn": ROLE}},
        "Lambda functions only",
    ),
    (
        {
            "Target": {
                "Arn": FUNCTION,
                "RoleArn": ROLE,
                "RetryPolicy": {"MaximumRetryAttempts": 186},
            }
        },
        "Member must have value less than or equal to 185",
    ),
    (
        {"StartDate": datetime.now(UTC) - timedelta(hours=1)},
        "The StartDate you specify cannot be earlier than 5 minutes ago.",
    ),
    ({"EndDate": datetime.now(UTC) - timedelta(hours=1)}, "EndDate"),
]


@pytest.mark.parametrize(("change", "message"), INVALID)
def test_bad_schedules_get_a_validation_exception(
    scheduler: Any, change: dict[str, Any], message: str
) -> None:
    name = unique("bad")
    request = {
        "Name": name,
        "ScheduleExpression": "rate(5 minutes)",
        "FlexibleTimeWindow": OFF,
        "Target": {"Arn": FUNCTION, "RoleArn": ROLE},
        **change,
    }
    client = (
        scheduler
        if "Mode" not in str(change)
        else boto3_client(scheduler.meta.endpoint_url, validate=False, service="scheduler")
    )
    code, got, status = error_of(client.create_schedule, **request)
    assert (code, status) == ("ValidationException", 400)
    assert message in got
    assert error_of(scheduler.get_schedule, Name=name)[0] == "ResourceNotFoundException"


def test_a_missing_group(scheduler: Any) -> None:
    code, message, status = error_of(
        scheduler.create_schedule,
        Name=unique("lost"),
        GroupName="no-such-group",
        ScheduleExpression="rate(5 minutes)",
        FlexibleTimeWindow=OFF,
        Target={"Arn": FUNCTION, "RoleArn": ROLE},
    )
    assert (code, message, status) == (
        "ResourceNotFoundException",
        "Schedule group no-such-group does not exist.",
        404,
    )
    assert (
        error_of(scheduler.list_schedules, GroupName="no-such-group")[0]
        == "ResourceNotFoundException"
    )


def test_groups_hold_schedules_and_take_them_along(scheduler: Any) -> None:
    group = unique("team")
    arn = scheduler.create_schedule_group(Name=group, Tags=[{"Key": "team", "Value": "data"}])[
        "ScheduleGroupArn"
    ]
    assert arn == f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule-group/{group}"
    assert error_of(scheduler.create_schedule_group, Name=group)[:1] == ("ConflictException",)
    got = scheduler.get_schedule_group(Name=group)
    assert (got["Arn"], got["Name"], got["State"]) == (arn, group, "ACTIVE")
    assert scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "team", "Value": "data"}
    ]
    scheduler.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    scheduler.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert scheduler.list_tags_for_resource(ResourceArn=arn)["Tags"] == [
        {"Key": "env", "Value": "prod"}
    ]

    for n in range(3):
        scheduler.create_schedule(
            Name=f"job-{n}",
            GroupName=group,
            ScheduleExpression="rate(1 day)",
            FlexibleTimeWindow=OFF,
            Target={"Arn": FUNCTION, "RoleArn": ROLE},
            State="DISABLED" if n == 2 else "ENABLED",
        )
    listed = scheduler.list_schedules(GroupName=group)["Schedules"]
    assert [s["Name"] for s in listed] == ["job-0", "job-1", "job-2"]
    assert listed[0]["Target"] == {"Arn": FUNCTION}
    assert listed[0]["GroupName"] == group
    enabled = scheduler.list_schedules(GroupName=group, State="ENABLED")["Schedules"]
    assert [s["Name"] for s in enabled] == ["job-0", "job-1"]
    assert (
        scheduler.list_schedules(GroupName=group, NamePrefix="job-1")["Schedules"][0]["Name"]
        == "job-1"
    )

    pages = scheduler.get_paginator("list_schedules").paginate(
        GroupName=group, PaginationConfig={"PageSize": 2}
    )
    assert [[s["Name"] for s in page["Schedules"]] for page in pages] == [
        ["job-0", "job-1"],
        ["job-2"],
    ]

    scheduler.delete_schedule_group(Name=group)
    assert error_of(scheduler.get_schedule_group, Name=group)[0] == "ResourceNotFoundException"
    assert (
        error_of(scheduler.get_schedule, Name="job-0", GroupName=group)[0]
        == "ResourceNotFoundException"
    )


def test_the_default_group(scheduler: Any) -> None:
    got = scheduler.get_schedule_group(Name="default")
    assert got["Name"] == "default"
    assert got["State"] == "ACTIVE"
    names = [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]
    assert names[0] == "default"
    message = "This operation cannot be performed on schedule group default."
    assert error_of(scheduler.create_schedule_group, Name="default")[:2] == (
        "ValidationException",
        message,
    )
    assert error_of(scheduler.delete_schedule_group, Name="default")[:2] == (
        "ValidationException",
        message,
    )


def test_group_pages(scheduler: Any) -> None:
    prefix = unique("paged")
    for n in range(5):
        scheduler.create_schedule_group(Name=f"{prefix}-{n}")
    pages = scheduler.get_paginator("list_schedule_groups").paginate(
        NamePrefix=prefix, PaginationConfig={"PageSize": 2}
    )
    names = [[g["Name"] for g in page["ScheduleGroups"]] for page in pages]
    assert names == [
        [f"{prefix}-0", f"{prefix}-1"],
        [f"{prefix}-2", f"{prefix}-3"],
        [f"{prefix}-4"],
    ]
    for n in range(5):
        scheduler.delete_schedule_group(Name=f"{prefix}-{n}")


def test_schedules_are_per_region(server: LambdadServer, scheduler: Any) -> None:
    name = unique("regional")
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression="rate(5 minutes)",
        FlexibleTimeWindow=OFF,
        Target={"Arn": FUNCTION, "RoleArn": ROLE},
    )
    elsewhere = boto3_client(server.url, region="eu-west-1", service="scheduler")
    assert error_of(elsewhere.get_schedule, Name=name)[0] == "ResourceNotFoundException"
    scheduler.delete_schedule(Name=name)
