"""The server's own errors, attached to a failing test's report.

A test against a live server sees only the HTTP answer ("An internal error
occurred."); the cause is in the server's log. CI shows the report, not the
log file, so a failing test carries the log's last error blocks with it.
"""

from __future__ import annotations

import re
from pathlib import Path

MAX_CHARS = 3000
"""Bound on what one server adds to a report (the start of the report is what CI shows)."""

# The server logs "date time LEVEL logger: message" (server.py's logging format).
_ERROR_START = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) |^Traceback \(most recent call last\):")


def error_blocks(log_path: Path, since: int = 0) -> str:
    """The error lines and the traceback lines after them, from byte `since` on; the last
    MAX_CHARS of them."""
    try:
        with open(log_path, "rb") as log:
            log.seek(since)
            text = log.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    kept: list[str] = []
    in_block = False
    for line in text.splitlines():
        if _ERROR_START.search(line):
            in_block = True
        elif in_block and not (line.startswith((" ", "\t")) or _is_traceback_tail(line)):
            in_block = False
        if in_block:
            kept.append(line)
    return "\n".join(kept)[-MAX_CHARS:]


def _is_traceback_tail(line: str) -> bool:
    """A traceback's last line (`SomeError: why`) or a chained traceback's header."""
    return bool(re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b", line)) or line.startswith(
        ("During handling", "The above exception", "Traceback")
    )
