"""The bwrap trial behind `--sandbox auto`: a passing failure is no reason to drop isolation."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lambdad.sandbox.backend import TRIAL_ATTEMPTS, bwrap_works


def fake_bwrap(tmp_path: Path, failures: int) -> Path:
    """A stand-in bwrap that fails its first `failures` runs with a message, then succeeds."""
    script = tmp_path / "bwrap"
    count = tmp_path / "count"
    script.write_text(
        "#!/bin/sh\n"
        f'n=$(cat "{count}" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "{count}"\n'
        f'if [ "$n" -le {failures} ]; then echo "bwrap: Creating new namespace failed" >&2; '
        "exit 1; fi\n"
    )
    script.chmod(0o755)
    return script


def runs(tmp_path: Path) -> int:
    return int((tmp_path / "count").read_text())


def test_a_trial_that_fails_once_still_picks_bwrap(tmp_path: Path) -> None:
    assert bwrap_works(str(fake_bwrap(tmp_path, failures=1)))
    assert runs(tmp_path) == 2


def test_a_trial_that_always_fails_says_why(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="lambdad.sandbox.backend"):
        assert not bwrap_works(str(fake_bwrap(tmp_path, failures=TRIAL_ATTEMPTS)))
    assert runs(tmp_path) == TRIAL_ATTEMPTS
    assert "Creating new namespace failed" in caplog.text
