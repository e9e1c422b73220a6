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
