"""The server-log excerpt that a failing test's report carries."""

from __future__ import annotations

from pathlib import Path

from support.server_errors import MAX_CHARS, error_blocks

LOG = """\
2026-12-01 08:00:00,001 INFO lambdad.api: POST /functions 201 3 ms
2026-12-01 08:00:00,002 ERROR lambdad.api.errors: POST /functions: unexpected error
Traceback (most recent call last):
  File "x.py", line 1, in f
    raise OSError(28, "No space left on device")
OSError: [Errno 28] No space left on device
2026-12-01 08:00:00,003 INFO lambdad.api: GET /functions 200 1 ms
"""


def test_keeps_the_error_line_and_its_whole_traceback(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    log.write_text(LOG)
    kept = error_blocks(log).splitlines()
    assert kept[0].endswith("POST /functions: unexpected error")
    assert kept[-1] == "OSError: [Errno 28] No space left on device"
    assert not any(" INFO " in line for line in kept)


def test_reads_from_an_offset_and_is_bounded(tmp_path: Path) -> None:
    log = tmp_path / "s.log"
    log.write_text(LOG)
    assert error_blocks(log, since=len(LOG.encode())) == ""
    log.write_text(LOG * 100)
    assert len(error_blocks(log)) == MAX_CHARS
    assert error_blocks(tmp_path / "missing.log") == ""
