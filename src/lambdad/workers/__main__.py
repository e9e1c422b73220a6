"""`python -m lambdad.workers WORKER RUN_DIR PRIMARY_PID SHARED_COUNTERS CHANNEL_FD`: a
secondary server process (settings from LAMBDAD_*, as the primary's; see `secondary.py`).

It serves the connections the primary hands it over the inherited CHANNEL_FD
(`handoff.py`), once its app is started; it listens on no port. It ends on
SIGTERM/SIGINT (uvicorn's graceful stop: its connections are shut down after their
requests in flight, its environments destroyed), on EOF on stdin or on its
channel (the primary is gone), on PR_SET_PDEATHSIG (the same, by the kernel), or
when the change bus closes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from lambdad.workers.handoff import HandOffReceiver
from lambdad.workers.secondary import SecondaryRole
from lambdad.workers.serving import FrontedServer
from lambdad.workers.shared_limits import SharedCountersHandle
from lambdad.workers.supervisor import RunDir

PR_SET_PDEATHSIG = 1


def _die_with(primary_pid: int) -> None:
    """SIGTERM when the primary dies; exit now if it already has."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # stdin's EOF still ends it
    if os.getppid() != primary_pid:
        raise SystemExit("lambdad worker: the primary is gone")


def _on_stdin_eof(callback: Callable[[], None]) -> None:
    def watch() -> None:
        while os.read(0, 4096):
            pass
        callback()

    threading.Thread(target=watch, name="lambdad-primary-watch", daemon=True).start()


def main() -> None:
    import uvicorn

    from lambdad.api.http_protocol import CoalescingHttpToolsProtocol
    from lambdad.sandbox import raise_open_files_limit
    from lambdad.server import build_app
    from lambdad.server_log import configure_logging
    from lambdad.settings import Settings

    worker, run_dir, primary = int(sys.argv[1]), RunDir(Path(sys.argv[2])), int(sys.argv[3])
    channel = socket.socket(fileno=int(sys.argv[5]))
    _die_with(primary)
    settings = Settings.from_env()
    configure_logging(settings.log_level, tag=f"worker {worker}")
    raise_open_files_limit()
    server: FrontedServer | None = None

    def stop() -> None:
        if server is not None:
            server.should_exit = True

    counters = SharedCountersHandle.from_arg(sys.argv[4])
    role = SecondaryRole(worker, run_dir, counters, primary, on_primary_gone=stop)
    config = uvicorn.Config(
        build_app(settings, secondary=role),
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None,
        lifespan="on",
        http=CoalescingHttpToolsProtocol,
    )
    server = FrontedServer(config, HandOffReceiver(channel, on_channel_end=stop))
    _on_stdin_eof(stop)
    server.run(sockets=[])  # no port: its connections come over the channel
    if not server.started:
        raise SystemExit(3)


if __name__ == "__main__":
    main()
