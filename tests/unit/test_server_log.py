"""The server's log lines read exactly as logging's own formatter writes them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from lambdad.server_log import FORMAT, ServerLogFormatter, configure_logging


def _record(created: float, name: str = "lambdad.api") -> logging.LogRecord:
    record = logging.LogRecord(name, logging.INFO, __file__, 1, "%s %d", ("GET", 200), None)
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    return record


def test_lines_are_logging_s_own() -> None:
    ours, theirs = ServerLogFormatter(FORMAT), logging.Formatter(FORMAT)
    # Within one second, across seconds, back in time, and across a day.
    for created in (1764600000.0, 1764600000.5, 1764600000.999, 1764600001.001, 1764599999.2,
                    1764633599.9, 1764633600.0):  # fmt: skip
        record = _record(created)
        assert ours.format(record) == theirs.format(record)
    with_datefmt = ServerLogFormatter(FORMAT, datefmt="%H:%M")
    record = _record(1764600000.25)
    assert with_datefmt.format(record) == logging.Formatter(FORMAT, "%H:%M").format(record)


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging._srcfile, logging.logThreads)
    try:
        yield root
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers, _, logging._srcfile, logging.logThreads = saved
        root.setLevel(saved[1])
        logging.logProcesses = logging.logMultiprocessing = True


def test_the_server_s_setup(root_logger: logging.Logger) -> None:
    stream = io.StringIO()
    root_logger.handlers = []  # pytest's own capture is one: basicConfig would keep it
    configure_logging("info", stream=stream)
    logging.getLogger("uvicorn.error").info("Started server process")
    logging.getLogger("lambdad.api").debug("not at info")
    logging.getLogger("lambdad.api").info("%s %s %d", "127.0.0.1", "GET", 200)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith(" INFO uvicorn: Started server process")
    assert lines[1].endswith(" INFO lambdad.api: 127.0.0.1 GET 200")
