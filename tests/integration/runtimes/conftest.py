"""Fixtures for running real environments: the subprocess double, and bwrap when it works."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from lambdad.pool.environment import ExecutionEnvironment
from lambdad.sandbox import select_backend
from support.envkit import SubprocessBackend, make_spec
from support.marks import sandbox_missing_reason


def _bwrap_backend() -> Any:
    reason = sandbox_missing_reason()
    if reason:
        pytest.skip(reason)
    # The host has what bwrap needs: a backend that fails now is broken, not absent.
    return select_backend("bwrap")


@pytest.fixture(params=["double", "bwrap"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    if request.param == "double":
        yield SubprocessBackend()
        return
    b = _bwrap_backend()
    yield b
    await b.close()


@pytest.fixture
async def bwrap_backend() -> AsyncIterator[Any]:
    b = _bwrap_backend()
    yield b
    await b.close()


@pytest.fixture
async def start_env(tmp_path: Path, backend: Any) -> AsyncIterator[Callable[..., Any]]:
    """start_env(files, **spec_kwargs) -> a started ExecutionEnvironment, destroyed at teardown."""
    envs: list[ExecutionEnvironment] = []

    async def start(files: Mapping[str, str | bytes], **kw: Any) -> ExecutionEnvironment:
        if isinstance(backend, SubprocessBackend):
            # The double shares the host network: ports must be picked per environment.
            kw.setdefault("network", "host")
        env = await ExecutionEnvironment.start(make_spec(tmp_path, files, **kw), backend)
        envs.append(env)
        return env

    yield start
    for env in envs:
        await env.destroy("test over")
