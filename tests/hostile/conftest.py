"""The hostile tier: each test plays an attacker (a hostile client, a hostile
function, a crash) against a real server and checks the platform holds.

Every test collected under this folder gets the `hostile` mark, so
`pytest -m hostile` runs the tier alone. Tests that need real sandboxes add
`support.marks.needs_sandbox` themselves.

Fixtures:
- `start_server(*args, env=...)`: a fresh `lambdad server` (SQLite) on its own
  data dir, stopped at the end of the test however it ends.

Helpers to import: `support.waiting.wait_until` (poll with a deadline) and
`support.procfs.rss_bytes` (a process's resident memory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.server import LambdadServer

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees every collected item, not only this folder's.
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.hostile)


StartServer = Callable[..., LambdadServer]


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[StartServer]:
    servers: list[LambdadServer] = []

    def start(*args: str, env: dict[str, str] | None = None) -> LambdadServer:
        data_dir = tmp_path / f"server{len(servers)}" / "data"
        data_dir.parent.mkdir(parents=True)
        server = LambdadServer(data_dir, None, args=list(args), env=env)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in reversed(servers):
            server.stop()
