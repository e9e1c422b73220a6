"""SnapStart's templates without a sandbox: which versions are restored, how many
templates live, and which ones go (`pool/snapstart.py`)."""

from __future__ import annotations

import dataclasses
import socket
from types import SimpleNamespace
from typing import Any

import anyio
import pytest

from lambdad.catalog import SnapStartFailed, Version
from lambdad.pool.snapstart import TEMPLATE_HEADROOM_MB, Templates
from lambdad.sandbox import SandboxError
from support.catalog import make_version
from support.templates import FakeBackend, FakeEnvironment, ForkingBackend

pytestmark = pytest.mark.anyio


def snap(name: str, version: str = "1", **config: Any) -> Version:
    base = make_version(name, version=version)
    return dataclasses.replace(
        base,
        config=dataclasses.replace(base.config, snap_start="PublishedVersions", **config),
    )


def templates(max_templates: int = 2, backend: Any = None) -> tuple[Templates, list[Any]]:
    started: list[Any] = []
    clock = [0.0]

    async def start(version: Version, fork_end: socket.socket) -> Any:
        env = FakeEnvironment()
        started.append((version.function_name, version.version, env))
        return env

    made = Templates(
        FakeBackend() if backend is None else backend,
        start,
        max_templates=max_templates,
        idle_s=10.0,
        clock=lambda: clock[0],
    )
    made._clock_value = clock  # type: ignore[attr-defined]
    return made, started


def test_which_versions_are_restored() -> None:
    made, _ = templates()
    assert made.enabled and made.serves(snap("f"))
    assert not made.serves(snap("f", version="$LATEST"))  # $LATEST runs on demand
    assert not made.serves(make_version("f", version="1"))  # SnapStart off
    assert not made.serves(snap("f", runtime="nodejs20.x"))
    nowhere = Templates(object(), templates()[0]._start_template)
    assert not nowhere.enabled and not nowhere.serves(snap("f"))


async def test_a_version_gets_one_template_and_loses_it_with_its_function() -> None:
    made, started = templates()
    await made.prepare(snap("f"))
    await made.prepare(snap("f"))  # made once
    await made.prepare(snap("g"))
    assert [(n, v) for n, v, _ in started] == [("f", "1"), ("g", "1")]
    # A kept template runs only forks: room for what its children write before they
    # move into their own cgroups, and a core for the forks (not the function's 7%).
    assert started[0][2].sandbox.limits == (128 + TEMPLATE_HEADROOM_MB, 1.0)
    await made.retire(snap("f").function_arn)
    assert started[0][2].destroyed == "version deleted" and made.count() == 1
    await made.close()
    assert started[1][2].destroyed == "server stopping" and made.count() == 0


async def test_templates_are_bounded_and_reaped_when_idle() -> None:
    made, started = templates(max_templates=2)
    for name in ("a", "b", "c"):
        await made.prepare(snap(name))
    # The least recently used one made room for the third.
    assert started[0][2].destroyed == "too many templates" and made.count() == 2
    made._clock_value[0] = 11.0  # type: ignore[attr-defined]
    assert await made.reap() == 2 and made.count() == 0


async def test_a_failed_init_fails_the_version() -> None:
    made, started = templates()

    async def failing(version: Version, fork_end: socket.socket) -> Any:
        env = FakeEnvironment()
        env.init_error = type("Err", (), {"payload": b'{"errorType": "E", "errorMessage": "m"}'})
        return env

    made._start_template = failing
    with pytest.raises(SnapStartFailed) as info:
        await made.prepare(snap("f"))
    assert info.value.code == "FunctionError" and "E: m" in info.value.reason


async def test_a_template_that_cannot_be_forked_safely_leaves_its_version_on_demand() -> None:
    class Refusing(FakeBackend):
        def check_template(self, sandbox: Any) -> str | None:
            return "the runtime has 2 threads after Init (one expected)"

    made, started = templates(backend=Refusing())
    version = snap("f")
    await made.prepare(version)  # the version stays Active
    assert started[0][2].destroyed == "template refused"
    assert not made.serves(version)  # OptimizationStatus Off; its environments run Init
    await made.retire(version.function_arn)
    assert made.serves(version)


async def test_a_template_the_platform_cannot_start_leaves_its_version_on_demand() -> None:
    made, _ = templates()

    async def broken(version: Version, fork_end: socket.socket) -> Any:
        raise OSError("no sandbox today")

    made._start_template = broken
    version = snap("f")
    await made.prepare(version)  # no exception: the version becomes Active
    assert not made.serves(version)


async def test_each_template_keeps_one_environment_forked_ahead(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from lambdad.pool.environment import ExecutionEnvironment
    from support.envkit import make_spec

    async def restored(spec: Any, sandbox: Any, channel: Any, **_: Any) -> Any:
        return FakeEnvironment()

    monkeypatch.setattr(ExecutionEnvironment, "restored", restored)
    pending: list[Any] = []
    backend = ForkingBackend()
    made, started = templates(backend=backend)
    made._spawn = pending.append

    async def start(version: Version, fork_end: socket.socket) -> Any:
        env = FakeEnvironment()
        env.spec = make_spec(tmp_path, {"app.py": ""})
        env.sandbox.spec.env = {"A": "1"}
        started.append(env)
        return env

    made._start_template = start
    version = snap("f")
    await made.prepare(version)
    assert len(pending) == 1  # the spare is forked in the background
    await pending.pop()()
    spec = make_spec(tmp_path, {"app.py": ""})
    assert await made.restore(version, spec, None) is not None
    assert backend.released == [(1, spec.env_id)]  # the spare, given this environment's id
    await pending.pop()()  # and the next one forked ahead
    await made.close()
    assert backend.discarded == [2]  # the spare nobody took goes with its template


class FailingForks(FakeBackend):
    """Forks that each take a moment and fail (the release path needs a real sandbox)."""

    def __init__(self) -> None:
        self.in_flight = self.most_in_flight = self.forks = 0

    async def prefork(self, control: Any, runtime: int, spec: Any, listen: str) -> Any:
        self.forks += 1
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            for _ in range(3):
                await anyio.sleep(0)  # let the other restores in
            raise SandboxError("cannot restore: timed out")
        finally:
            self.in_flight -= 1


def child_of(name: str) -> Any:
    return SimpleNamespace(environment={}, env_id=f"env-{name}", work_dir=f"/work-{name}")


async def test_a_burst_of_restores_forks_one_at_a_time_and_a_failed_one_keeps_the_template() -> (
    None
):
    backend = FailingForks()
    made, started = templates(backend=backend)
    version = snap("f")

    results: list[Any] = []

    async def restore(i: int) -> None:
        results.append(await made.restore(version, child_of(str(i)), None))

    async with anyio.create_task_group() as tg:
        for i in range(5):
            tg.start_soon(restore, i)
    # Each failed restore starts on demand (None); the template forked one at a time
    # and, alive, is kept for the next cold start (its running children with it).
    assert results == [None] * 5 and backend.forks == 5
    assert backend.most_in_flight == 1
    assert len(started) == 1 and started[0][2].destroyed is None and made.count() == 1
    # A template that died is made anew at the next restore.
    await started[0][2].destroy("killed")
    await made.restore(version, child_of("late"), None)
    assert len(started) == 2 and made.count() == 1
