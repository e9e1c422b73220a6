"""Fakes of what template sets (`pool/templates.py`) ask of a backend and a template's
environment: forks on paper, no sandbox."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


class FakeSandbox:
    def __init__(self) -> None:
        self.spec = SimpleNamespace(env={})
        self.limits: tuple[int, float | None] | None = None
        self.peak_mb = 10

    async def attach(self, source: Any, target: str) -> None:
        raise AssertionError("a template gets no late mounts")

    async def resize(self, memory_mb: int, init_cpus: float | None) -> None:
        self.limits = (memory_mb, init_cpus)


class FakeEnvironment:
    """What Templates asks of a template's environment."""

    def __init__(self) -> None:
        self.init_error: Any = None
        self.sandbox: Any = FakeSandbox()
        self.spec: Any = SimpleNamespace(
            env_id="tpl", memory_mb=128, ephemeral_storage_mb=512, work_dir="/w",
            network="none", forwards=(),
        )  # fmt: skip
        self.destroyed: str | None = None

    def is_alive(self) -> bool:
        return self.destroyed is None

    async def destroy(self, reason: str) -> None:
        self.destroyed = reason


class FakeBackend:
    restores = True

    def check_template(self, sandbox: Any) -> str | None:
        return None

    def template_runtime(self, sandbox: Any) -> int | None:
        return 1234

    def template_memory_mb(self, sandbox: Any) -> float:
        return float(sandbox.peak_mb)


class ForkingBackend(FakeBackend):
    """Forks on paper: each prefork is a numbered spare; release hands it out."""

    def __init__(self) -> None:
        self.forked = 0
        self.released: list[tuple[int, str]] = []
        self.specs: list[Any] = []
        """What each child was released with (its SandboxSpec)."""
        self.discarded: list[int] = []

    async def prefork(
        self, control: Any, runtime: int, spec: Any, listen: str, disk: bool = False
    ) -> Any:
        self.forked += 1
        number = self.forked
        backend = self

        class Spare:
            def alive(self) -> bool:
                return True

            def discard(self) -> None:
                backend.discarded.append(number)

        spare = Spare()
        spare.number = number  # type: ignore[attr-defined]
        return spare

    async def release(self, forked: Any, spec: Any) -> tuple[Any, Any]:
        self.released.append((forked.number, spec.sandbox_id))
        self.specs.append(spec)
        return object(), object()
