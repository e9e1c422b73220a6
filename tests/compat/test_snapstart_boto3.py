"""SnapStart's configuration through boto3: set, validated, copied into published versions
and shown as AWS shows it; and its runtime hooks module importable by Python functions."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import unique, wait_active, wait_updated
from support.server import ROLE
from support.zips import make_zip

pytestmark = pytest.mark.compat

ON = {"ApplyOn": "PublishedVersions"}
OFF = {"ApplyOn": "None"}

HOOKS = """
from snapshot_restore_py import (
    get_after_restore, get_before_snapshot, register_after_restore, register_before_snapshot,
)

CALLED = []


@register_before_snapshot
def before():
    CALLED.append("before")


def after(tag, *, extra):
    CALLED.append(f"after {tag} {extra}")


assert register_after_restore(after, "a", extra=1) is after
register_after_restore(after, "b", extra=2)


def handler(event, context):
    return {
        "before": [f.__name__ for f, _, _ in get_before_snapshot()],
        "after": [[f.__name__, list(a), k] for f, a, k in get_after_restore()],
        "called": CALLED,
    }
"""


def create(client: Any, name: str, **params: Any) -> dict[str, Any]:
    defaults = {"Runtime": "python3.12", "Handler": "app.handler", "Role": ROLE}
    code = {"ZipFile": make_zip({"app.py": HOOKS})}
    response: dict[str, Any] = client.create_function(
        FunctionName=name, Code=code, **(defaults | params)
    )
    return response


def refused(call: Any, **params: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(**params)
    error = info.value.response["Error"]
    return error["Code"], error["Message"]


def test_snapstart_is_kept_and_shown_on_the_function_and_its_versions(
    lambda_client: Any,
) -> None:
    name = unique("snap")
    created = create(lambda_client, name, SnapStart=ON)
    # Shown as AWS shows it: $LATEST never runs from a snapshot.
    assert created["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    wait_active(lambda_client, name)
    published = lambda_client.publish_version(FunctionName=name)
    assert published["Version"] == "1"
    assert published["SnapStart"]["ApplyOn"] == "PublishedVersions"
    wait_active(lambda_client, f"{name}:1")

    got = lambda_client.get_function(FunctionName=name, Qualifier="1")["Configuration"]
    assert got["SnapStart"] == published["SnapStart"]
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["SnapStart"]["ApplyOn"] for v in versions] == ["PublishedVersions"] * 2

    # Turning it off changes the configuration: the next publish is a new version.
    updated = lambda_client.update_function_configuration(FunctionName=name, SnapStart=OFF)
    assert updated["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}
    wait_updated(lambda_client, name)
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "2"
    kept = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert kept["SnapStart"]["ApplyOn"] == "PublishedVersions"

    # A function created without it shows AWS's default.
    plain = unique("snap")
    assert create(lambda_client, plain)["SnapStart"] == {
        "ApplyOn": "None",
        "OptimizationStatus": "Off",
    }


def test_snapstart_refused_where_aws_refuses_it(lambda_client: Any, raw_client: Any) -> None:
    name = unique("snap")
    for runtime in ("python3.11", "nodejs20.x"):
        code, message = refused(
            create, client=lambda_client, name=name, Runtime=runtime, SnapStart=ON
        )
        assert (code, message) == (
            "InvalidParameterValueException",
            f"{runtime} is not supported for SnapStart enabled functions.",
        )
    code, message = refused(
        create, client=lambda_client, name=name, SnapStart=ON, EphemeralStorage={"Size": 1024}
    )
    assert code == "InvalidParameterValueException"
    assert "not supported for SnapStart enabled functions" in message
    code, message = refused(create, client=raw_client, name=name, SnapStart={"ApplyOn": "Always"})
    assert (code, message) == (
        "ValidationException",
        "1 validation error detected: Value 'Always' at 'snapStart.applyOn' failed to satisfy "
        "constraint: Member must satisfy enum value set: [PublishedVersions, None]",
    )
    # Off, any runtime may have it.
    create(lambda_client, name, Runtime="python3.11", SnapStart=OFF)
    wait_active(lambda_client, name)

    # An update that would make a refused combination loses nothing.
    name = unique("snap")
    create(lambda_client, name, SnapStart=ON)
    wait_active(lambda_client, name)
    code, message = refused(
        lambda_client.update_function_configuration, FunctionName=name, Runtime="python3.11"
    )
    assert message == "python3.11 is not supported for SnapStart enabled functions."
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert (config["Runtime"], config["SnapStart"]["ApplyOn"]) == (
        "python3.12",
        "PublishedVersions",
    )


def test_the_runtime_hooks_module_is_importable_and_registers_hooks(lambda_client: Any) -> None:
    name = unique("snap")
    create(lambda_client, name, SnapStart=ON, Publish=True)
    wait_active(lambda_client, f"{name}:1")
    restored = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")[
        "SnapStart"
    ]["OptimizationStatus"]
    answer = lambda_client.invoke(FunctionName=name, Qualifier="1", Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()
    body = json.loads(answer["Payload"].read())
    assert body["after"] == [["after", ["a"], {"extra": 1}], ["after", ["b"], {"extra": 2}]]
    if restored == "On":
        # Snapshotted (see test_snapstart_restore): the before-snapshot hooks ran once
        # and left the list, the after-restore ones ran in this environment, in order.
        assert body["before"] == []
        assert body["called"] == ["before", "after a 1", "after b 2"]
    else:
        # No snapshot taken (a host that cannot restore): no hook runs, as on AWS then.
        assert body["before"] == ["before"]
        assert body["called"] == []
