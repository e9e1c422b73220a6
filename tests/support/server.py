"""A real `lambdad server` in a subprocess, and clients that talk to it.

`LambdadServer` starts the server on a free loopback port, waits (bounded)
until it answers, and always stops it: SIGTERM, then SIGKILL after a timeout.
A server that did not stop by itself (killed, crashed) has what it left on the
host reclaimed: sandbox processes, cgroups, mounts, loop devices.
Authentication is on: a started server's admin key (the file it writes into
its data dir) is registered for its URL, and `boto3_client`, `aws_env` and
`http_auth` sign with it (with the most recently started server's key when no
endpoint is named). `AWS_EC2_METADATA_DISABLED` is set so botocore never
probes the instance metadata address.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from lambdad.client_signing import SigV4HttpxAuth
from lambdad.iam import CREDENTIALS_FILE, KeyPair, read_credentials
from lambdad.sandbox.backend import usable_cgroup_layout
from lambdad.sandbox.reclaim import default_cgroup_parent, reclaim, remove_parent
from lambdad.workers import worker_dir
from support.runtime_cache import runtime_cache_dir

# Generous: a loaded two-core machine (or a restart that recovers after a kill -9)
# can take many seconds; both waits end as soon as the server answers or exits.
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
SCHEDULER_ROLE = "arn:aws:iam::000000000000:role/lambdad-scheduler"
"""Every server's role that may invoke the account's functions (schedules' RoleArn)."""
ACCOUNT_ID = "000000000000"
REGION = "us-east-1"


# The admin key of each running server, by port, in the order they started.
_KEYS: dict[int, KeyPair] = {}
# Before any server started (a client of nothing yet): a key no server knows.
_NO_SERVER = KeyPair("AKIANOSERVERSTARTED0", "no-server-started")


def register_credentials(url: str, key: KeyPair) -> None:
    port = urlsplit(url).port
    assert port is not None
    _KEYS.pop(port, None)
    _KEYS[port] = key


def forget_credentials(url: str) -> None:
    _KEYS.pop(urlsplit(url).port or 0, None)


def credentials_for(endpoint: str | None = None) -> KeyPair:
    """The key to sign requests to `endpoint` with (any host on a started server's port:
    function URL hosts too); without an endpoint, the latest started server's that runs."""
    if endpoint is not None:
        found = _KEYS.get(urlsplit(endpoint).port or 0)
        if found is not None:
            return found
    return next(reversed(_KEYS.values()), _NO_SERVER)


def http_auth(endpoint: str | None = None, service: str = "lambda", region: str = REGION) -> Any:
    """An httpx `auth=` that signs requests to `endpoint` like an SDK does."""
    return SigV4HttpxAuth(credentials_for(endpoint), region, service)


def signature_headers(
    url: str, method: str, path: str, headers: dict[str, str], service: str = "lambda"
) -> dict[str, str]:
    """The SigV4 headers for a request a test sends by hand (`path` may hold a query),
    signed with UNSIGNED-PAYLOAD so the body may be anything, sent any way."""
    parts = urlsplit(url)
    all_headers = {"Host": parts.netloc, **headers, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    signed = AWSRequest(method=method, url=f"{parts.scheme}://{parts.netloc}{path}")
    for name, value in all_headers.items():
        if name.lower() in ("host", "content-type") or name.lower().startswith("x-amz-"):
            signed.headers[name] = value
    key = credentials_for(url)
    credentials = Credentials(key.access_key_id, key.secret_access_key, key.session_token)
    SigV4Auth(credentials, service, REGION).add_auth(signed)
    return {
        name: signed.headers[name]
        for name in ("Authorization", "X-Amz-Date", "X-Amz-Content-SHA256")
    }


def aws_env(base: dict[str, str] | None = None, endpoint: str | None = None) -> dict[str, str]:
    """An environment for subprocesses (the AWS CLI, `lambdad`, boto3 scripts): the
    credentials of `endpoint`'s server (else the latest started), no metadata probing."""
    env = dict(os.environ if base is None else base)
    key = credentials_for(endpoint)
    env.update(
        AWS_ACCESS_KEY_ID=key.access_key_id,
        AWS_SECRET_ACCESS_KEY=key.secret_access_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.pop("AWS_SESSION_TOKEN", None)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def lambdad_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "lambdad.cli", *args]


def run_lambdad(*args: str, endpoint: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """A `lambdad` client command against `endpoint`, signed with that server's key."""
    env = aws_env(endpoint=endpoint)
    env.pop("LAMBDAD_ENDPOINT", None)
    command = [*lambdad_command(*args), "--endpoint", endpoint]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


class LambdadServer:
    """One `lambdad server` process; use as a context manager or call start/stop."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None = None,
        *,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        workers: int | None = None,
    ) -> None:
        """`args` are extra `lambdad server` flags, `env` extra LAMBDAD_* variables;
        nothing else of the test runner's LAMBDAD_* configuration leaks in. `workers`:
        server processes (`--workers`); by default LAMBDAD_TEST_WORKERS (a developer
        switch to run the suites against `--workers N`; CI leaves it unset: 1)."""
        self.data_dir = data_dir
        self.database_url = database_url
        self.args = list(args or [])
        if workers is None:
            workers = int(os.environ.get("LAMBDAD_TEST_WORKERS") or 1)
        if workers > 1 and "--workers" not in self.args:
            self.args += ["--workers", str(workers)]
        self.workers = (
            int(self.args[self.args.index("--workers") + 1]) if "--workers" in self.args else 1
        )
        self.extra_env = dict(env or {})
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}.server.log"
        self.backend = "unknown"
        """The sandbox backend, from the server's startup line."""
        self.admin_key: KeyPair | None = None
        """The admin user's key, from the file the server writes into its data dir."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def own_dirs(self) -> list[Path]:
        """Each server process's own dir (its sandbox state dir, work dirs): the data
        dir's, and with `--workers N` each secondary's (lambdad.workers.worker_dir)."""
        return [self.data_dir, *(worker_dir(self.data_dir, n) for n in range(1, self.workers))]

    def start(self) -> LambdadServer:
        self.port = free_port()
        args = ["server", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--data-dir", str(self.data_dir), "--log-level", "info", *self.args]
        if self.database_url:
            args += ["--database-url", self.database_url]
        env = aws_env()
        for key in [k for k in env if k.startswith("LAMBDAD_")]:
            del env[key]  # the flags above are the whole configuration
        env["LAMBDAD_RUNTIME_CACHE"] = str(runtime_cache_dir())  # SDKs downloaded once
        # The server's own calls out (code from an S3 endpoint) sign with these; the
        # S3 servers of the tests take any key.
        env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        env.update(self.extra_env)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                lambdad_command(*args), stdout=log, stderr=subprocess.STDOUT, env=env
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"lambdad server exited with {self.process.returncode}:\n{self.log()}"
                )
            if self.admin_key is None:
                self.admin_key = read_credentials(self.data_dir / CREDENTIALS_FILE)
            auth = None if self.admin_key is None else SigV4HttpxAuth(self.admin_key, REGION)
            try:
                url = f"{self.url}/2016-08-19/account-settings"
                response = httpx.get(url, timeout=1.0, auth=auth)
                if response.status_code == 200:
                    found = re.search(r"sandbox backend (\w+)", self.log())
                    self.backend = found.group(1) if found else "unknown"
                    if self.admin_key is not None:
                        register_credentials(self.url, self.admin_key)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"lambdad server did not answer in {STARTUP_TIMEOUT_S}s:\n{self.log()}")

    def stop(self) -> None:
        forget_credentials(self.url)
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_S)
        if process.returncode != 0:  # it did not clean up after itself
            reclaim_sandboxes(self.data_dir)

    def log(self) -> str:
        """The log's last 4000 characters, for failure messages."""
        return self.full_log()[-4000:]

    def full_log(self) -> str:
        """The whole log: what a test searches (a tail may have scrolled past a line)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> LambdadServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def reclaim_sandboxes(data_dir: Path) -> None:
    """Kill and remove what a dead server on `data_dir` left: sandbox processes, cgroups,
    mounts and loop devices (a test must not leave them on the host, failed or not)."""
    layout = usable_cgroup_layout()
    # A primary's and its secondaries' (lambdad.workers: <data dir>/workers/N).
    for state_dir in [data_dir / "sandbox", *data_dir.glob("workers/*/sandbox")]:
        parent = default_cgroup_parent(state_dir)
        reclaim(state_dir, layout, parent)
        remove_parent(layout, parent)


def boto3_client(
    endpoint: str,
    validate: bool = True,
    region: str = REGION,
    service: str = "lambda",
    credentials: KeyPair | None = None,
) -> Any:
    """A boto3 client of `service` (lambda, events, scheduler, logs, …) for `endpoint`;
    `validate=False` sends what botocore would refuse. It signs with the server's
    admin key, or `credentials` (a user's key, a role session's key and token).

    Its requests are signed for `region`, which the server takes as theirs. Every
    test builds its AWS clients here, so the credentials they sign with live in
    one place."""
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    config = Config(
        parameter_validation=validate,
        retries={"max_attempts": 1},
        connect_timeout=5,
        read_timeout=60,
        # StartLiveTail's host prefix (`stream-`) would name no host before 127.0.0.1.
        inject_host_prefix=False,
    )
    key = credentials or credentials_for(endpoint)
    return boto3.client(
        service,
        endpoint_url=endpoint,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        aws_session_token=key.session_token,
        region_name=region,
        config=config,
    )


def signed_get(client: Any, url: str) -> httpx.Response:
    """GET one of lambdad's own endpoints (`/_lambdad/...`) signed as `client` signs its
    requests: with its credentials, for its region (whose functions and logs it reads)."""
    request = AWSRequest(method="GET", url=url)
    credentials = client._request_signer._credentials
    SigV4Auth(credentials, "lambda", client.meta.region_name).add_auth(request)
    prepared = request.prepare()
    return httpx.get(prepared.url, headers=dict(prepared.headers.items()), timeout=30)


def dir_size(path: Path) -> int:
    """Bytes of regular files under `path` (not following links)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except FileNotFoundError:
                pass
    return total
