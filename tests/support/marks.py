"""Marks shared across tiers."""

from __future__ import annotations

import os
import shutil

import pytest

# Real sandboxes need root (cgroups, loop mounts) and bubblewrap.
needs_sandbox = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (cgroups, loop mounts)"),
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]


def sandbox_missing_reason() -> str | None:
    """Why this host cannot run bwrap sandboxes, or None when it can.

    Only a missing feature is a reason to skip: once the host has what the
    backend needs, a backend that fails to start is a failure, never a skip.
    """
    if os.geteuid() != 0:
        return "needs root (cgroups, loop mounts)"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed"
    return None


# `LAMBDAD_TEST_WORKERS=N` runs every test server as `lambdad server --workers N`
# (tests/support/server.py). A few tests count what one process's environments do
# (cold starts, a wait in line for a busy one): each process keeps its own
# environments, ready environments and templates, so with N processes a function
# may cold-start once in each, whichever process a connection reaches. Those tests
# run with one process only.
one_process = pytest.mark.skipif(
    int(os.environ.get("LAMBDAD_TEST_WORKERS") or 1) > 1,
    reason="counts what one process's environments do: with --workers each process keeps "
    "its own environments, ready environments and templates (LAMBDAD_TEST_WORKERS > 1)",
)
