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
