"""Stopping a helper process a test started: SIGTERM, then SIGKILL."""

from __future__ import annotations

import subprocess

STOP_TIMEOUT_S = 30.0


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_S)
