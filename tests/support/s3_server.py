"""A real S3-compatible server for tests: moto's server mode on a free loopback port.

`running_s3_server` starts `python -m moto.server` as a subprocess, waits (bounded) until
it answers, and always stops it (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from support.processes import stop_process
from support.server import aws_env, boto3_client, free_port
from support.waiting import wait_until


class S3Server:
    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        return boto3_client(self.url, service="s3")

    def start(self) -> S3Server:
        self.port = free_port()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=aws_env(),
            )
        try:
            wait_until(self._answers, f"moto server on {self.url}")
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise RuntimeError(f"moto server exited: {self.log_path.read_text()[-2000:]}")
        try:
            return httpx.get(f"{self.url}/moto-api/", timeout=1.0).status_code < 500
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process)


@contextmanager
def running_s3_server(log_path: Path) -> Iterator[S3Server]:
    server = S3Server(log_path).start()
    try:
        yield server
    finally:
        server.stop()
