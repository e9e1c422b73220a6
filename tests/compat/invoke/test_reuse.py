"""Warm environments are reused, scaled out under load, retired on update, reaped when idle.

Runs against live servers with the bwrap sandbox backend (printed and recorded
per test); skipped without root or bubblewrap.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from support.invoke import WAIT, InvokeServer, create_function, invoke_json, probe_files
from support.waiting import wait_until

pytestmark = pytest.mark.compat


def test_sequential_invokes_reuse_the_warm_environment(lam: Any) -> None:
    name = create_function(lam, "reuse-warm", probe_files())
    results = [invoke_json(lam, name, {})[0] for _ in range(3)]
    assert [r["count"] for r in results] == [1, 2, 3]
    assert len({r["context"]["log_stream_name"] for r in results}) == 1
    assert len({r["env_id"] for r in results}) == 1


def test_parallel_invokes_all_succeed_on_several_environments(lam: Any) -> None:
    name = create_function(lam, "reuse-parallel", probe_files(), Timeout=30)

    def one(i: int) -> tuple[Any, Any]:
        return invoke_json(lam, name, {"action": "sleep", "seconds": 0.5, "tag": i})

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(one, range(20)))
    for body, response in outcomes:
        assert "FunctionError" not in response, body
    assert sorted(body["tag"] for body, _ in outcomes) == list(range(20))
    assert len({body["env_id"] for body, _ in outcomes}) > 1
    assert len({body["context"]["log_stream_name"] for body, _ in outcomes}) > 1


def test_configuration_update_retires_warm_environments(lam: Any) -> None:
    name = create_function(
        lam, "reuse-update", probe_files(), Environment={"Variables": {"SETTING": "old"}}
    )
    before = [invoke_json(lam, name, {})[0] for _ in range(2)]
    assert [b["count"] for b in before] == [1, 2]
    assert before[-1]["environ"]["SETTING"] == "old"

    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"SETTING": "new"}}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)
    after, _ = invoke_json(lam, name, {})
    assert after["environ"]["SETTING"] == "new"
    assert after["count"] == 1
    assert after["env_id"] != before[-1]["env_id"]


def test_idle_environment_is_reaped(idle_server: InvokeServer) -> None:
    client = idle_server.client()
    name = create_function(client, "reuse-idle", probe_files())

    def reaper_passes() -> int:
        return idle_server.full_log().count("reaper: destroyed")

    reaped = reaper_passes()
    first = [invoke_json(client, name, {})[0] for _ in range(2)]
    assert [b["count"] for b in first] == [1, 2]
    # Idle timeout 1 s, a reaper pass every second; no other test uses this server.
    wait_until(lambda: reaper_passes() > reaped, "the reaper to destroy the idle environment")
    later, _ = invoke_json(client, name, {})
    assert later["count"] == 1
    assert later["env_id"] != first[-1]["env_id"]
