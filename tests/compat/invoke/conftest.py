"""Fixtures for the Invoke tests: live `lambdad server --sandbox bwrap` processes.

Each server has its own temporary data dir and is always stopped. The sandbox
backend a server reports (`sandbox backend bwrap` in its startup line) is
printed and recorded as the `sandbox_backend` property of every test. Without
root or bubblewrap the tests are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from support.invoke import InvokeServer, bwrap_missing_reason


def start_server(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> InvokeServer:
    reason = bwrap_missing_reason()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp(name)
    server = InvokeServer(root / "data", ["--sandbox", "bwrap", *args], env or {})
    server.start()
    print(f"\n{name}: lambdad server on {server.url}, sandbox backend {server.backend}")
    return server


@contextmanager
def running_server(
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator[InvokeServer]:
    """`start_server`'s server, always stopped."""
    server = start_server(tmp_path_factory, name, args, env)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def invoke_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    """The shared server; async retries wait 0.2 s, then 0.4 s (not 1 and 2 minutes)."""
    server = start_server(tmp_path_factory, "invoke", env={"LAMBDAD_ASYNC_RETRY_BASE_S": "0.2"})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    """A server that reaps environments idle for more than 1 s."""
    server = start_server(tmp_path_factory, "idle", args=("--idle-timeout", "1"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lam(invoke_server: InvokeServer) -> Any:
    """A boto3 Lambda client for the shared server."""
    return invoke_server.client()


@pytest.fixture(autouse=True)
def _record_backend(request: pytest.FixtureRequest, record_property: Any) -> None:
    for name in ("invoke_server", "idle_server"):
        if name in request.fixturenames:
            server: InvokeServer = request.getfixturevalue(name)
            record_property(f"{name}_sandbox_backend", server.backend)
            print(f"{name}: sandbox backend {server.backend}")
