"""What a secondary keeps: Invoke requests it may serve, and targets it may run."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from lambdad.invoke.concurrency import Provisioned
from lambdad.workers.gate import ForwardToPrimary, Gate, serves_locally

pytestmark = pytest.mark.anyio

INVOKE = "/2015-03-31/functions/f/invocations"


def scope(path: str = INVOKE, method: str = "POST", **headers: str) -> dict[str, Any]:
    raw = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": "http", "method": method, "path": path, "headers": raw, "root_path": ""}


def test_a_synchronous_invoke_is_served_locally() -> None:
    assert serves_locally(scope())
    assert serves_locally(scope(x_amz_invocation_type="RequestResponse"))
    assert serves_locally(scope(x_amz_invocation_type="DryRun"))
    assert serves_locally(scope("/2015-03-31/functions/arn%3Aaws%3Alambda%3Ax/invocations"))


def test_everything_else_goes_to_the_primary() -> None:
    assert not serves_locally(scope(x_amz_invocation_type="Event"))
    assert not serves_locally(scope(x_amz_invocation_type="bogus"))  # its error is the primary's
    assert not serves_locally(scope(method="GET"))
    assert not serves_locally(scope("/2015-03-31/functions/f"))
    assert not serves_locally(scope("/2021-11-15/functions/f/response-streaming-invocations"))
    assert not serves_locally(scope("/2014-11-13/functions/f/invoke-async/"))
    assert not serves_locally({"type": "lifespan"})


class FakeStore:
    def __init__(self, provisioned: dict[str, int]) -> None:
        self.provisioned = provisioned
        self.reads = 0

    def list_provisioned(self, name: str | None = None) -> list[str]:
        self.reads += 1
        return ["config"] * self.provisioned.get(name or "", 0)


class FakeConcurrency:
    def __init__(self, store: FakeStore) -> None:
        self.store = store

    def in_region(self, _region: str) -> FakeConcurrency:
        return self


def target(name: str = "f", **changes: Any) -> Any:
    config = SimpleNamespace(snap_start=changes.pop("snap_start", "None"))
    version = SimpleNamespace(function_name=name, config=config)
    fields = {"reserved_concurrency": None, "provisioned": None, **changes}
    return SimpleNamespace(version=version, **fields)


def gate_of(store: FakeStore) -> Gate:
    return Gate(FakeConcurrency(store))  # type: ignore[arg-type]


async def test_a_plain_function_runs_here_and_its_answer_is_kept() -> None:
    store = FakeStore({})
    gate = gate_of(store)
    await gate.check("us-east-1", target())
    await gate.check("us-east-1", target())
    assert store.reads == 1


@pytest.mark.parametrize(
    "changes",
    [
        {"reserved_concurrency": 0},
        {"reserved_concurrency": 5},
        {"provisioned": Provisioned("live", 2)},
        {"snap_start": "PublishedVersions"},
    ],
)
async def test_reserved_provisioned_or_snapstart_targets_are_forwarded(
    changes: dict[str, Any],
) -> None:
    with pytest.raises(ForwardToPrimary):
        await gate_of(FakeStore({})).check("us-east-1", target(**changes))


async def test_a_function_with_any_provisioned_config_is_forwarded_until_it_changes() -> None:
    store = FakeStore({"f": 1})
    gate = gate_of(store)
    with pytest.raises(ForwardToPrimary):
        await gate.check("us-east-1", target())  # $LATEST of a function with an alias's config
    store.provisioned.clear()
    with pytest.raises(ForwardToPrimary):
        await gate.check("us-east-1", target())  # kept until the change bus says otherwise
    await gate.forget("f")
    await gate.check("us-east-1", target())
    assert store.reads == 2
