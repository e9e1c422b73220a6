"""A server restart on the same data dir (and database) keeps everything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from support.server import ROLE, LambdadServer, boto3_client
from support.zips import handler_zip

pytestmark = pytest.mark.compat

WAIT = {"Delay": 0.05, "MaxAttempts": 400}


def snapshot(client: Any) -> dict[str, Any]:
    """Everything the API says about every function, with code bytes."""
    state: dict[str, Any] = {}
    paginator = client.get_paginator("list_functions")
    for page in paginator.paginate(FunctionVersion="ALL"):
        for config in page["Functions"]:
            name, version = config["FunctionName"], config["Version"]
            got = client.get_function(FunctionName=name, Qualifier=version)
            state[f"{name}:{version}"] = {
                "configuration": got["Configuration"],
                "tags": got.get("Tags"),
                "code": httpx.get(got["Code"]["Location"]).content,
            }
    state["account"] = client.get_account_settings()["AccountUsage"]
    return state


def test_restart_keeps_functions_versions_tags_and_code(
    tmp_path: Path, own_database_url: str | None
) -> None:
    data_dir = tmp_path / "data"
    with LambdadServer(data_dir, own_database_url) as first:
        client = boto3_client(first.url)
        for i, tags in enumerate([{"team": "a"}, {}, {"team": "c", "env": "prod"}]):
            name = f"keep-{i}"
            client.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Handler="app.handler",
                Role=ROLE,
                Code={"ZipFile": handler_zip(name)},
                Tags=tags,
                Environment={"Variables": {"INDEX": str(i)}},
                Publish=i == 0,
            )
        # An update of a function still Pending is refused (ResourceConflictException).
        for name in ("keep-0", "keep-1", "keep-2"):
            client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=WAIT)
        client.update_function_code(
            FunctionName="keep-1", ZipFile=handler_zip("keep-1-v2"), Publish=True
        )
        client.update_function_configuration(FunctionName="keep-2", MemorySize=512)
        client.delete_function(FunctionName="keep-0", Qualifier="1")
        for name in ("keep-0", "keep-1", "keep-2"):
            client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)
        client.get_waiter("function_active_v2").wait(
            FunctionName="keep-1", Qualifier="1", WaiterConfig=WAIT
        )
        before = snapshot(client)

    if own_database_url is not None:
        assert not (data_dir / "lambdad.db").exists()
    assert set(before) == {
        "keep-0:$LATEST",
        "keep-1:$LATEST",
        "keep-1:1",
        "keep-2:$LATEST",
        "account",
    }

    with LambdadServer(data_dir, own_database_url) as second:
        client = boto3_client(second.url)
        after = snapshot(client)
        assert after == before
        assert after["keep-1:1"]["code"] == handler_zip("keep-1-v2")
        assert after["keep-2:$LATEST"]["configuration"]["MemorySize"] == 512
        # Versions keep counting from where they were.
        client.update_function_code(FunctionName="keep-1", ZipFile=handler_zip("v3"), Publish=True)
        assert (
            client.get_function_configuration(FunctionName="keep-1", Qualifier="2")["Version"]
            == "2"
        )
