"""On-demand templates without a sandbox (`pool/preinit.py`): which versions fork, when a
template is made, what a child is released with, and when a template ends."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Any

import anyio
import pytest

from lambdad.catalog import Version
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.pool.preinit import PreInitTemplates
from lambdad.runtimes.launch import PRE_INIT_VARIABLE
from support.catalog import make_version
from support.envkit import make_spec
from support.templates import FakeBackend, FakeEnvironment, ForkingBackend

pytestmark = pytest.mark.anyio


class Made:
    """A PreInitTemplates over fakes, with its background work and clock in hand."""

    def __init__(self, tmp_path: Path, backend: Any = None, **options: Any) -> None:
        self.tmp_path = tmp_path
        self.backend = ForkingBackend() if backend is None else backend
        self.pending: list[Any] = []
        self.started: list[FakeEnvironment] = []
        self.now = [0.0]
        self.templates = PreInitTemplates(
            self.backend,
            self.start,
            spawn=self.pending.append,
            clock=lambda: self.now[0],
            **options,
        )

    async def start(self, version: Version, fork_end: socket.socket) -> Any:
        env = FakeEnvironment()
        env.spec = make_spec(self.tmp_path, {"app.py": ""})
        env.sandbox.spec.env = {"_HANDLER": "app.handler", PRE_INIT_VARIABLE: "1"}
        env.plan = None  # type: ignore[attr-defined]
        self.started.append(env)
        return env

    async def settle(self) -> None:
        """Run the background work (templates made, spares forked) until none is left."""
        while self.pending:
            await self.pending.pop(0)()


@pytest.fixture
def restored(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """ExecutionEnvironment.restored's calls (each returns a live fake environment)."""
    calls: list[dict[str, Any]] = []

    async def fake(spec: Any, sandbox: Any, channel: Any, **options: Any) -> Any:
        calls.append(options)
        return FakeEnvironment()

    monkeypatch.setattr(ExecutionEnvironment, "restored", fake)
    return calls


def test_which_versions_fork(tmp_path: Path) -> None:
    made = Made(tmp_path).templates
    assert made.serves(make_version("f")) and made.serves(make_version("f", version="1"))
    base = make_version("f", version="1")
    snap = dataclasses.replace(
        base, config=dataclasses.replace(base.config, snap_start="PublishedVersions")
    )
    assert not made.serves(snap)  # SnapStart's templates restore it
    node = make_version("f")
    node = dataclasses.replace(node, config=dataclasses.replace(node.config, runtime="nodejs20.x"))
    assert not made.serves(node)
    wrapped = make_version("f")
    config = dataclasses.replace(
        wrapped.config, environment={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/wrapper"}
    )
    assert not made.serves(dataclasses.replace(wrapped, config=config))
    egress = PreInitTemplates(FakeBackend(), Made(tmp_path).start, network_of=lambda _v: "egress")
    assert not egress.serves(make_version("f"))
    nowhere = PreInitTemplates(object(), Made(tmp_path).start)
    assert not nowhere.enabled and not nowhere.serves(make_version("f"))


async def test_the_first_cold_start_takes_the_usual_way_and_the_next_ones_fork(
    tmp_path: Path, restored: list[dict[str, Any]]
) -> None:
    made = Made(tmp_path)
    templates, version = made.templates, make_version("f")
    spec = make_spec(tmp_path, {"app.py": ""})
    assert await templates.start(version, spec, None) is None  # no template yet
    templates.want(version)
    templates.want(version)  # wanted twice, made once
    await made.settle()
    assert len(made.started) == 1 and made.backend.forked == 1  # and its spare

    child = await templates.start(version, spec, None)
    assert child is not None
    (released,) = made.backend.specs
    assert released.sandbox_id == spec.env_id
    # Its own variables; nothing of the template's marker; Init on a whole core.
    assert released.env["AWS_LAMBDA_FUNCTION_NAME"] == spec.environment["AWS_LAMBDA_FUNCTION_NAME"]
    assert PRE_INIT_VARIABLE not in released.env and released.env["_HANDLER"] == "app.handler"
    assert released.init_cpus == 1.0
    assert restored[0]["snapshot"] is False and restored[0]["report_line"] is None
    templates.want(version)
    await made.settle()
    assert len(made.started) == 1  # the template is there: nothing more to make


async def test_a_changed_version_stops_forking_and_its_template_ends_after_its_environments(
    tmp_path: Path, restored: list[dict[str, Any]]
) -> None:
    made = Made(tmp_path)
    templates, version = made.templates, make_version("f")
    templates.want(version)
    await made.settle()
    child = await templates.start(version, make_spec(tmp_path, {"app.py": ""}), None)
    assert child is not None
    await templates.retire(version.function_arn, "$LATEST")
    template = made.started[0]
    assert template.destroyed is None  # its environment is alive: killing it would end it
    assert await templates.start(version, make_spec(tmp_path, {"app.py": ""}), None) is None
    newer = dataclasses.replace(version, revision_id="r2")
    templates.want(newer)  # the new revision gets its own
    await made.settle()
    assert len(made.started) == 2
    await templates.reap()
    assert template.destroyed is None
    await child.destroy("idle")
    await templates.reap()
    assert template.destroyed == "version changed"
    await templates.retire(version.function_arn)  # deleted: no environment, ended at once
    assert made.started[1].destroyed == "version changed"


async def test_a_retire_beside_a_reap_ends_the_template_once(tmp_path: Path) -> None:
    """Both end retired templates; one awaits its spare's discard (a thread) while the
    other ends the template: the first must not end it again (it raised, and the
    UpdateFunctionConfiguration that retired it answered 500)."""
    made = Made(tmp_path)
    templates, version = made.templates, make_version("f")
    templates.want(version)
    await made.settle()
    assert made.backend.forked == 1  # its spare: discarded in a thread when it ends
    async with anyio.create_task_group() as group:
        group.start_soon(templates.retire, version.function_arn, "$LATEST")
        group.start_soon(templates.reap)
    assert made.started[0].destroyed == "version changed"
    assert len(made.backend.discarded) == 1


async def test_templates_are_bounded_by_their_memory(tmp_path: Path) -> None:
    made = Made(tmp_path, max_memory_mb=25)
    templates = made.templates
    for name in ("f", "g", "h"):
        made.now[0] += 1
        templates.want(make_version(name))
        await made.settle()
    # 10 MB each: the third one needed the oldest's room.
    assert [t.destroyed for t in made.started] == ["templates' memory", None, None]
    assert templates.count() == 2
    await templates.close()
    assert all(t.destroyed for t in made.started)


async def test_a_template_that_cannot_start_leaves_the_version_to_the_usual_way(
    tmp_path: Path,
) -> None:
    made = Made(tmp_path)

    async def broken(version: Version, fork_end: socket.socket) -> Any:
        raise OSError("no sandbox")

    made.templates._start_template = broken
    version = make_version("f")
    made.templates.want(version)
    await made.settle()
    assert not made.templates.serves(version) and made.templates.count() == 0


async def test_a_full_template_hands_the_next_cold_starts_to_the_next_one(
    tmp_path: Path, restored: list[dict[str, Any]]
) -> None:
    made = Made(tmp_path, max_children=2)
    templates, version = made.templates, make_version("f")
    templates.want(version)
    await made.settle()
    children = [await templates.start(version, make_spec(tmp_path, {"a.py": ""}), None)]
    children.append(await templates.start(version, make_spec(tmp_path, {"a.py": ""}), None))
    assert all(children) and len(made.started) == 1
    # Full (its children share its uid): the usual way, and the next template is made.
    assert await templates.start(version, make_spec(tmp_path, {"a.py": ""}), None) is None
    await made.settle()
    assert len(made.started) == 2 and templates.count() == 2
    assert await templates.start(version, make_spec(tmp_path, {"a.py": ""}), None) is not None
    # Both end with their version.
    for child in children:
        assert child is not None
        await child.destroy("idle")
    await templates.retire(version.function_arn)
    assert made.started[0].destroyed == "version changed"
