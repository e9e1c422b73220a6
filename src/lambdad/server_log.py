"""The server's log: one format for its own lines and uvicorn's, on stderr.

Every request writes a line (`api.app.RequestLog`), so a record must be cheap:
the format names no thread, process or source line, so records do not look
them up (the logging HOWTO's "Optimization" section), and the time text of a
second is formatted once for all its lines.
"""

from __future__ import annotations

import logging
import time
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ServerLogFormatter(logging.Formatter):
    """logging's own format, with each second's date and time made once."""

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        known = self._second
        if known[0] != second:
            known = (second, time.strftime(self.default_time_format, self.converter(second)))
            self._second = known
        if not self.default_msec_format:
            return known[1]
        return self.default_msec_format % (known[1], record.msecs)


def configure_logging(level: str, stream: TextIO | None = None, tag: str = "") -> None:
    """The root logger at `level`, writing to stderr (or `stream`), as `basicConfig`
    sets it up (nothing changes when the root logger has handlers already). `tag`
    follows each line's logger name (a secondary's "[worker 2]", `lambdad.workers`)."""
    handler = logging.StreamHandler(stream)
    name = f"%(name)s[{tag}]" if tag else "%(name)s"
    handler.setFormatter(ServerLogFormatter(FORMAT.replace("%(name)s", name)))
    logging.basicConfig(level=level.upper(), handlers=[handler])
    for each in logging.getLogger().handlers:
        each.addFilter(_plain_uvicorn_name)
    # Alembic announces every plugin at info; keep the server's log about requests.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None


def _plain_uvicorn_name(record: logging.LogRecord) -> bool:
    # uvicorn logs its lifecycle as "uvicorn.error", which reads like a failure.
    if record.name == "uvicorn.error":
        record.name = "uvicorn"
    return True
