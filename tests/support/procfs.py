"""Reading a process's state from /proc, for tests that watch the server."""

from __future__ import annotations

from pathlib import Path


def _status_bytes(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"process {pid} has no {name} (a zombie?)")


def rss_bytes(pid: int) -> int:
    """Resident memory of `pid` (VmRSS), in bytes."""
    return _status_bytes(pid, "VmRSS")


def peak_rss_bytes(pid: int) -> int:
    """The most resident memory `pid` has had so far (VmHWM), in bytes."""
    return _status_bytes(pid, "VmHWM")
