"""Fixtures shared by every tier.

The `backend` parametrization runs a test on SQLite always and on PostgreSQL
when LAMBDAD_TEST_DATABASE_URL (postgresql://...) is set; without it the
PostgreSQL params are skipped. Servers are session-scoped: one per backend.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from support.postgres import ENV_VAR, configured_url, drop_database, fresh_database, reset_schema
from support.server import LambdadServer, boto3_client
from support.server_errors import error_blocks

# botocore without credentials probes 169.254.169.254; never let it.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (`pytest.mark.anyio`) run on asyncio, the server's event loop."""
    return "asyncio"


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgres" and configured_url() is None:
        pytest.skip(f"PostgreSQL tests need {ENV_VAR}=postgresql://...")
    return name


@pytest.fixture(scope="session")
def database_url(backend: str) -> Iterator[str | None]:
    """None for SQLite (a file in the data dir); else the emptied PostgreSQL database.

    Under pytest-xdist each worker process gets its own database beside the
    configured one, so workers never empty each other's.
    """
    if backend == "sqlite":
        yield None
        return
    url = configured_url()
    assert url is not None
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        reset_schema(url)
        yield url
        return
    own = fresh_database(url, f"session_{worker}")
    try:
        yield own
    finally:
        drop_database(url, own)


@pytest.fixture
def own_database_url(backend: str) -> Iterator[str | None]:
    """A database for a test that runs its own server (never the session server's).

    None for SQLite; for PostgreSQL a new database beside the configured one,
    dropped afterwards.
    """
    if backend == "sqlite":
        yield None
        return
    url = configured_url()
    assert url is not None
    own = fresh_database(url, f"t{uuid.uuid4().hex[:10]}")
    try:
        yield own
    finally:
        drop_database(url, own)


@pytest.fixture(scope="session")
def server(
    database_url: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LambdadServer]:
    data_dir = tmp_path_factory.mktemp("server") / "data"
    with LambdadServer(data_dir, database_url) as running:
        yield running


@pytest.fixture(scope="session")
def lambda_client(server: LambdadServer) -> Any:
    return boto3_client(server.url)


@pytest.fixture(scope="session")
def raw_client(server: LambdadServer) -> Any:
    """A client without botocore's parameter validation: the server must refuse."""
    return boto3_client(server.url, validate=False)


def _servers_of(item: pytest.Item) -> list[LambdadServer]:
    funcargs: dict[str, Any] = getattr(item, "funcargs", {})
    return [value for value in funcargs.values() if isinstance(value, LambdadServer)]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Remember where each server's log stood when the test began."""
    item.stash[_LOG_OFFSETS] = {
        id(server): server.log_path.stat().st_size if server.log_path.exists() else 0
        for server in _servers_of(item)
    }
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failing test's report carries its servers' errors (see support.server_errors)."""
    report: pytest.TestReport = yield
    if report.failed and call.when in ("setup", "call"):
        offsets = item.stash.get(_LOG_OFFSETS, {})
        for server in _servers_of(item):
            errors = error_blocks(server.log_path, offsets.get(id(server), 0))
            if errors:
                report.sections.append((f"errors in {server.log_path.name}", errors))
    return report


_LOG_OFFSETS = pytest.StashKey[dict[int, int]]()
