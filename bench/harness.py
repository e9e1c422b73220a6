"""The processes a benchmark run drives: a `lambdad server`, and a bare HTTP floor server.

Both are subprocesses on loopback, started on a free port, waited for with a
bound, and always stopped (`with LambdadServer(...) as server:`). The floor
server is uvicorn, the HTTP stack lambdad itself runs on, serving a raw ASGI
app that answers every request with a small JSON body: the cost of one HTTP
round trip with none of our code in it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from lambdad.client_signing import SigV4HttpxAuth
from lambdad.iam import CREDENTIALS_FILE, KeyPair, read_credentials

API = "/2015-03-31/functions"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0

FLOOR_APP = """
import sys, uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    body = b'{"hello": "world"}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, lifespan="off")
"""


# The admin key of each running lambdad server, by URL: the bench's clients sign
# their requests as every AWS client does (authentication is on).
_KEYS: dict[str, KeyPair] = {}


def key_for(url: str) -> KeyPair | None:
    return _KEYS.get(url.rstrip("/"))


def auth_for(url: str) -> httpx.Auth | None:
    """An httpx `auth=` signing requests to a lambdad server; None for the floor server."""
    key = key_for(url)
    return None if key is None else SigV4HttpxAuth(key, "us-east-1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerFailed(RuntimeError):
    """A server process exited, or did not answer in time; the message has its log tail."""


class _Subprocess:
    """A loopback server subprocess with its output in a log file; a context manager."""

    ready_path = "/"

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"lambdad-bench-{name}-"))
        self.log_path = self.tmp / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and not isinstance(exc, ServerFailed):
            print(f"--- {self.name} server log (tail) ---\n{self.log_tail()}", file=sys.stderr)
        self.stop()

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv(),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise ServerFailed(f"{self.name} exited early:\n{self.log_tail()}")
                try:
                    client.get(self.ready_path)
                    return
                except httpx.TransportError:
                    time.sleep(0.05)
        raise ServerFailed(f"{self.name} not ready in {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM (graceful: lambdad destroys its environments), then SIGKILL its group."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(STOP_TIMEOUT_S)
        shutil.rmtree(self.tmp, ignore_errors=True)


class LambdadServer(_Subprocess):
    """`lambdad server` on a free port with a fresh data dir."""

    ready_path = API

    def __init__(self, args: tuple[str, ...] = ()) -> None:
        super().__init__("lambdad")
        self.args = args

    def argv(self) -> list[str]:
        data_dir = str(self.tmp / "data")
        port = str(self.port)
        return [
            sys.executable,
            "-m",
            "lambdad.cli",
            "server",
            "--port",
            port,
            "--data-dir",
            data_dir,
            *self.args,
        ]

    def env(self) -> dict[str, str]:
        return {**os.environ, "AWS_EC2_METADATA_DISABLED": "true"}

    def _wait_ready(self) -> None:
        super()._wait_ready()
        key = read_credentials(self.tmp / "data" / CREDENTIALS_FILE)
        if key is None:
            raise ServerFailed(f"lambdad wrote no admin key:\n{self.log_tail()}")
        _KEYS[self.url] = key

    def sandbox_backend(self) -> str:
        m = re.search(r"sandbox backend (\w+)", self.log_text())
        return m.group(1) if m else "unknown"


class FloorServer(_Subprocess):
    """uvicorn with a trivial ASGI app: the HTTP round trip without lambdad."""

    def __init__(self) -> None:
        super().__init__("floor")

    def argv(self) -> list[str]:
        return [sys.executable, "-c", FLOOR_APP, str(self.port)]
