"""Helpers for the hostile tier: a live bwrap server, and what functions leave behind.

A hostile test deploys a function that attacks the platform from inside its
sandbox, then checks that only that function's environment paid for it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from support.invoke import InvokeServer
from support.marks import sandbox_missing_reason
from support.waiting import wait_until


@contextmanager
def sandbox_server(
    tmp_path_factory: pytest.TempPathFactory, name: str, *args: str
) -> Iterator[InvokeServer]:
    """A `lambdad server --sandbox bwrap` for one test module; skipped without root/bwrap."""
    reason = sandbox_missing_reason()
    if reason:
        pytest.skip(reason)
    server = InvokeServer(tmp_path_factory.mktemp(name) / "data", ["--sandbox", "bwrap", *args], {})
    server.start()
    try:
        yield server
    finally:
        server.stop()


def processes_named(marker: str) -> list[str]:
    """Host processes whose command line holds `marker` (other pgreps aside)."""
    found = subprocess.run(["pgrep", "-a", "-f", marker], capture_output=True, text=True)
    return [line for line in found.stdout.splitlines() if line.split()[1:2] != ["pgrep"]]


def wait_until_gone(marker: str) -> None:
    """Wait (with a deadline) until no host process holds `marker`."""
    wait_until(lambda: not processes_named(marker), f"no process named {marker}")
