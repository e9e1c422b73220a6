"""The primary's secondaries: their sockets, start, watch, restart and stop.

`Cluster.create` (before the primary's app is built) makes what the processes
share: the TCP listening socket, which only the primary accepts on (its
`balance.Balancer` hands each connection to the least-loaded process), and a
private run dir (mode 700) with the primary's two UNIX sockets: the forwarding
socket (`forward.py`, served by the primary's uvicorn besides its TCP socket)
and the change bus (`bus.py`). The TCP socket is bound, not yet listening: the
balancer listens once the primary is ready, so no connection waits on a process
that is still starting (the forwarding socket listens at once: only secondaries
connect).

`Secondaries.run` (in the primary's lifespan, after migrations and the rest of
the primary's start) starts workers 1..N-1: fresh interpreters
(`python -m lambdad.workers`), each in a session of its own (a
terminal's Ctrl-C is the primary's to handle), with the settings as LAMBDAD_*
variables and its end of a new hand-off channel (`handoff.py`); it is started
once each one is on the change bus and takes connections. Each ends with the
primary however the primary ends: its stdin is a pipe whose only writer is the
primary (EOF), and it asks for PR_SET_PDEATHSIG.
A secondary that exits is started again once its sandboxes are reclaimed (its
backend's own sandbox supervisor holds its state dir's lock until then) and its
share of the account's counters is cleared (`shared_limits.py`); meanwhile new
connections go to the other processes. `stop` ends them all
with SIGTERM (each destroys its environments, as a single server does), then
SIGKILL past `STOP_TIMEOUT_S`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import anyio
from anyio.abc import Process, TaskStatus

from lambdad.concurrency import run_sync
from lambdad.sandbox.base import SandboxError
from lambdad.sandbox.supervisor import lock_state_dir
from lambdad.settings import Settings
from lambdad.workers.balance import Balancer
from lambdad.workers.handoff import channel_pair
from lambdad.workers.shared_limits import SharedCounters
from lambdad.workers.stale_run_dirs import PREFIX, hold_alive_lock, sweep_stale_run_dirs

log = logging.getLogger(__name__)

START_TIMEOUT_S = 120.0  # a secondary's interpreter and wiring, on a busy machine
STOP_TIMEOUT_S = 60.0  # its environments destroyed, its writers flushed
RESTART_DELAY_S = 0.5


def worker_dir(data_dir: Path, worker: int) -> Path:
    """A secondary's own dirs (sandbox state, code, work dirs) under the data dir."""
    return data_dir.resolve() / "workers" / str(worker)


def settings_environment(settings: Settings) -> dict[str, str]:
    """`settings` as the LAMBDAD_* variables `Settings.from_env` reads back."""
    values = {f.name: getattr(settings, f.name) for f in fields(settings)}
    return {f"LAMBDAD_{k.upper()}": str(v) for k, v in values.items() if v is not None}


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) as uvicorn binds one, not yet listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(False)
    return sock


@dataclass(frozen=True)
class RunDir:
    """The primary's private run dir (mode 700) and its UNIX sockets."""

    path: Path

    @property
    def forward_path(self) -> str:
        return str(self.path / "forward.sock")

    @property
    def bus_path(self) -> str:
        return str(self.path / "bus.sock")

    @property
    def tail_path(self) -> str:
        """The Live Tail relay's (`live_tail_relay.py`)."""
        return str(self.path / "tail.sock")


@dataclass
class Cluster:
    """What the primary and its secondaries share (see the module doc)."""

    count: int
    run_dir: RunDir
    tcp: socket.socket
    forward: socket.socket
    counters: SharedCounters
    """The account-wide concurrency counts, slot 0 the primary's, slot N worker N's."""
    balancer: Balancer
    """Accepts on `tcp` (the primary's uvicorn starts it) and picks each connection's
    process; its secondaries' channels come and go with their processes."""
    alive_fd: int
    """Holds the run dir's lifetime lock (`stale_run_dirs.py`) until `remove`."""

    @property
    def port(self) -> int:
        return int(self.tcp.getsockname()[1])

    @classmethod
    def create(cls, settings: Settings) -> Cluster:
        """Raises OSError when the address is taken."""
        tcp = listening_socket(settings.host, settings.port)
        sweep_stale_run_dirs(Path(tempfile.gettempdir()))
        run_dir = RunDir(Path(tempfile.mkdtemp(prefix=PREFIX)))  # short paths
        alive_fd = hold_alive_lock(run_dir.path)
        forward = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        forward.bind(run_dir.forward_path)
        # Listening already: a secondary that serves before the primary's uvicorn has
        # started waits in the backlog rather than being refused.
        forward.listen(2048)
        counters = SharedCounters.create(run_dir.path, slots=settings.workers)
        return cls(settings.workers, run_dir, tcp, forward, counters, Balancer(tcp), alive_fd)

    def remove(self) -> None:
        """The run dir goes (the sockets close with the process, or uvicorn's stop)."""
        self.balancer.close()
        self.counters.close()
        shutil.rmtree(self.run_dir.path, ignore_errors=True)
        with contextlib.suppress(OSError):  # closed already: a second remove
            os.close(self.alive_fd)


class Secondaries:
    """Workers 1..count-1 of a primary (see the module doc)."""

    def __init__(self, cluster: Cluster, settings: Settings) -> None:
        self.cluster = cluster
        self.data_dir = settings.data_dir
        self.env = {
            **os.environ,
            **settings_environment(settings),
            "LAMBDAD_PORT": str(cluster.port),
            "LAMBDAD_WORKERS": "1",
        }
        self._processes: dict[int, Process] = {}
        self._stopping = False
        self.restarts = 0

    def pids(self) -> dict[int, int]:
        return {w: p.pid for w, p in self._processes.items() if p.returncode is None}

    async def run(
        self,
        connected: Callable[[], dict[int, int]],
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Keep every secondary running; started once each one is on the change bus
        (`connected`: worker -> pid) and takes connections."""
        everyone = set(range(1, self.cluster.count))
        async with anyio.create_task_group() as group:
            for worker in range(1, self.cluster.count):
                group.start_soon(self._keep, worker)
            with anyio.fail_after(START_TIMEOUT_S):
                while set(connected()) != everyone or self.cluster.balancer.ready() != everyone:
                    self._check_started()
                    await anyio.sleep(0.05)
            task_status.started()

    def _check_started(self) -> None:
        for worker, process in self._processes.items():
            if process.returncode is not None:
                raise RuntimeError(f"worker {worker} exited at its start ({process.returncode})")

    async def _keep(self, worker: int) -> None:
        argv = [sys.executable, "-m", "lambdad.workers", str(worker)]
        argv += [str(self.cluster.run_dir.path), str(os.getpid())]
        argv.append(self.cluster.counters.handle(worker).to_arg())
        balancer = self.cluster.balancer
        while not self._stopping:
            channel, theirs = channel_pair()
            try:
                process = await anyio.open_process(
                    [*argv, str(theirs.fileno())],
                    stdin=subprocess.PIPE,
                    stdout=None,
                    stderr=None,
                    env=self.env,
                    start_new_session=True,
                    pass_fds=(theirs.fileno(),),
                )
            except BaseException:
                channel.close()
                raise
            finally:
                theirs.close()  # the secondary's now
            self._processes[worker] = process
            balancer.add(worker, channel)
            log.info("worker %d: started (pid %d)", worker, process.pid)
            try:
                await process.wait()
            finally:
                balancer.remove(worker)
            if self._stopping:
                return
            log.warning("worker %d (pid %d) exited (%s)", worker, process.pid, process.returncode)
            await self._reclaimed(worker)
            self.restarts += 1
            await anyio.sleep(RESTART_DELAY_S)

    async def _reclaimed(self, worker: int) -> None:
        """Once the dead secondary's sandboxes are gone (its sandbox supervisor lets go
        of the state dir's lock when it has reclaimed them), its share of the account's
        counts is nobody's: its slot is cleared."""
        state_dir = worker_dir(self.data_dir, worker) / "sandbox"
        try:
            fd = await run_sync(lock_state_dir, state_dir)
            os.close(fd)
        except SandboxError:
            log.error("worker %d: its sandboxes are still being reclaimed", worker)
        self.cluster.counters.clear_slot(worker)

    def kill(self, worker: int, pid: int) -> None:
        """Kill a stuck secondary (it is started again)."""
        process = self._processes.get(worker)
        if process is not None and process.pid == pid and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        """SIGTERM to every secondary, SIGKILL past STOP_TIMEOUT_S; back when all exited."""
        self._stopping = True
        processes = [p for p in self._processes.values() if p.returncode is None]
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        with anyio.move_on_after(STOP_TIMEOUT_S):
            for process in processes:
                await process.wait()
        for process in processes:
            if process.returncode is None:
                log.error("worker (pid %d) did not stop in time: killing it", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
            if process.stdin is not None:
                with contextlib.suppress(Exception):
                    await process.stdin.aclose()
