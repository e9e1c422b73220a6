"""A real OCI registry for tests: Debian's `docker-registry` on a free loopback
port, with its storage in a temp dir and a generated config; always stopped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx

from support.processes import stop_process
from support.server import free_port
from support.waiting import wait_until

CONFIG = """\
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


def registry_binary() -> str | None:
    return shutil.which("docker-registry")


class Registry:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Registry:
        binary = registry_binary()
        assert binary is not None, "docker-registry is installed by scripts/setup.sh --test"
        self.port = free_port()
        (self.workdir / "storage").mkdir(parents=True, exist_ok=True)
        config = self.workdir / "config.yml"
        config.write_text(CONFIG.format(root=self.workdir / "storage", port=self.port))
        with open(self.workdir / "registry.log", "ab") as log:
            self.process = subprocess.Popen(
                [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
            )
        try:
            wait_until(self._answers, f"docker-registry on {self.url}")
        except BaseException:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            log = (self.workdir / "registry.log").read_text()[-2000:]
            raise RuntimeError(f"docker-registry exited: {log}")
        try:
            return httpx.get(f"{self.url}/v2/", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        process, self.process = self.process, None
        stop_process(process)

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def running_registry(workdir: Path) -> Registry:
    """Use as `with running_registry(dir) as registry:`; stopped on leaving."""
    return Registry(workdir)
