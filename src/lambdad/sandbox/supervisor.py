"""A small process that outlives the server and reclaims its sandboxes when the server dies.

Why: sandboxes should die with their server (bwrap's --die-with-parent), but an
idle sandbox is frozen, and on cgroup v1 a frozen task never acts on the SIGKILL
that brings. After a kill -9 of the server every idle sandbox lived on, with its
cgroups, loop-mounted /tmp and work dir, until a server was started again on
the same data dir.

How: a backend starts one supervisor. Its stdin is a pipe whose only writer is
the server; the server writes `+` / `-` lines as sandboxes come and go (their
work dir and, where there are no cgroups, their process group), and `.` when
it closes cleanly. When the pipe reaches EOF without that `.`, the server is
gone (by any means), and the supervisor kills the sandboxes' process groups,
thaws and kills the backend's cgroups, unmounts its disks (freeing their loop
devices), removes its cgroup parent and the work dirs of the sandboxes that
were alive. On cgroup
v2, `cgroup.kill` reaches frozen tasks; on v1 the group is thawed after the kill
(see `Cgroup.kill_all`), so both work.

Ownership: the supervisor inherits the lock on the backend's state dir and any
fds the backend hands it (e.g. its block of host uids), so a server restarted
on the same data dir waits until the reclaim is over, and no other server takes
those uids while sandboxes that ran as them may still be dying.

The waiting part is a few lines of the standard library (an idle supervisor is
a bare interpreter); it imports lambdad only when there is something to reclaim.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import lambdad
from lambdad.sandbox.base import SandboxError
from lambdad.sandbox.cgroup import CgroupLayout
from lambdad.sandbox.reclaim import reclaim, remove_parent

log = logging.getLogger(__name__)

LOCK_NAME = "owner.lock"
# How long a new backend waits for the previous owner of its state dir (a
# supervisor still reclaiming, typically well under a second) before giving up.
LOCK_WAIT_S = 30.0
# A mount(8) the dead server had started may finish just after the first pass.
SECOND_PASS_DELAY_S = 1.0

WATCH_SOURCE = r"""
import json, os, signal, sys
# Only the end of the server's pipe ends a supervisor: never a terminal's or a
# service manager's signal meant for the server.
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
tracked, pending, clean = {}, b"", False
while True:
    chunk = os.read(0, 65536)
    if not chunk:
        break
    *lines, pending = (pending + chunk).split(b"\n")
    for line in lines:
        op, arg = line[:1], line[1:]
        if op == b"+":
            work_dir, pgid = json.loads(arg)
            tracked[work_dir] = pgid
        elif op == b"-":
            tracked.pop(json.loads(arg), None)
        elif op == b".":
            clean = True
if not clean:
    sys.path.insert(0, sys.argv[1])
    from lambdad.sandbox.supervisor import reclaim_after_server
    reclaim_after_server(sys.argv[2], tracked)
"""


@dataclass(frozen=True)
class ReclaimPlan:
    """What belongs to one backend: its state dir and its cgroups."""

    state_dir: Path
    layout: CgroupLayout | None
    cgroup_parent: str

    def to_json(self) -> str:
        layout = None
        if self.layout is not None:
            roots = {k: str(v) for k, v in self.layout.roots.items()}
            layout = {"version": self.layout.version, "roots": roots}
        return json.dumps(
            {"state_dir": str(self.state_dir), "layout": layout, "parent": self.cgroup_parent}
        )

    @classmethod
    def from_json(cls, text: str) -> ReclaimPlan:
        raw = json.loads(text)
        layout = None
        if raw["layout"] is not None:
            roots = {k: Path(v) for k, v in raw["layout"]["roots"].items()}
            layout = CgroupLayout(version=raw["layout"]["version"], roots=roots)
        return cls(Path(raw["state_dir"]), layout, raw["parent"])


def reclaim_after_server(plan_json: str, sandboxes: Mapping[str, int | None]) -> None:
    """In the supervisor: the server is gone; reclaim everything it left.

    `sandboxes` maps the work dir of each sandbox alive at the end to its
    process group, if it has no cgroup (the process backend without root)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s lambdad.supervisor: %(message)s"
    )
    started = time.monotonic()
    plan = ReclaimPlan.from_json(plan_json)
    for pgid in sandboxes.values():
        if pgid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)  # stopped ones too
    count = reclaim(plan.state_dir, plan.layout, plan.cgroup_parent)
    for work_dir in sandboxes:
        shutil.rmtree(work_dir, ignore_errors=True)
    logging.warning(
        "the server is gone: reclaimed %d sandbox(es) and %d work dir(s) of %s in %.1f s",
        count,
        len(sandboxes),
        plan.state_dir,
        time.monotonic() - started,
    )
    time.sleep(SECOND_PASS_DELAY_S)
    late = reclaim(plan.state_dir, plan.layout, plan.cgroup_parent)
    remove_parent(plan.layout, plan.cgroup_parent)
    if late:
        logging.warning("reclaimed %d more sandbox(es) the server was still making", late)


def lock_state_dir(state_dir: Path, timeout: float = LOCK_WAIT_S) -> int:
    """Take the state dir's owner lock (blocking, bounded); returns the locked fd."""
    state_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(state_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise SandboxError(
                    f"sandbox state dir {state_dir} is in use by another lambdad server"
                ) from None
            if not waited:
                log.info("sandbox: waiting for the previous owner of %s to finish", state_dir)
                waited = True
            time.sleep(0.05)


class Supervisor:
    """The server's side of one supervisor process. Thread-safe; methods block briefly."""

    def __init__(self, plan: ReclaimPlan, lock_fd: int, keep_fds: Sequence[int]) -> None:
        self.plan = plan
        self._fds = (lock_fd, *keep_fds)
        self._lock_fd = lock_fd
        self._mutex = threading.Lock()
        self._tracked: dict[str, int | None] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe: int | None = None
        self._closed = False
        self._spawn()

    @classmethod
    def start(cls, plan: ReclaimPlan, keep_fds: Sequence[int] = ()) -> Supervisor:
        """Own the state dir, reclaim what a previous server left there, then supervise."""
        lock_fd = lock_state_dir(plan.state_dir)
        try:
            count = reclaim(plan.state_dir, plan.layout, plan.cgroup_parent)
            if count:
                log.warning("sandbox: reclaimed %d sandbox(es) a previous server left", count)
            return cls(plan, lock_fd, keep_fds)
        except BaseException:
            os.close(lock_fd)
            raise

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def _spawn(self) -> None:
        read_end, write_end = os.pipe()
        package_root = str(Path(lambdad.__file__).resolve().parent.parent)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-c", WATCH_SOURCE, package_root, self.plan.to_json()],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                pass_fds=self._fds,
                cwd="/",  # never keep a mount of ours busy
                start_new_session=True,  # the server's process group's signals stay its own
            )
        except OSError as e:
            os.close(write_end)
            raise SandboxError(f"cannot start the sandbox supervisor: {e}") from e
        finally:
            os.close(read_end)
        self._pipe = write_end
        for work_dir, pgid in self._tracked.items():
            self._send(b"+" + json.dumps([work_dir, pgid]).encode())

    def _send(self, line: bytes) -> None:
        assert self._pipe is not None
        data = line + b"\n"
        while data:
            data = data[os.write(self._pipe, data) :]

    def _tell(self, line: bytes) -> None:
        """Send a line; a supervisor that died (killed from outside) is replaced first."""
        assert self._proc is not None
        if self._proc.poll() is not None:
            log.error("sandbox: supervisor %d died (%s); starting another", self._proc.pid,
                      self._proc.returncode)  # fmt: skip
            self._replace()
        try:
            self._send(line)
        except BrokenPipeError:
            self._replace()

    def _replace(self) -> None:
        if self._pipe is not None:
            os.close(self._pipe)
            self._pipe = None
        if self._proc is not None:
            self._proc.wait()
        self._spawn()

    def track(self, work_dir: Path, pgid: int | None = None) -> None:
        """A sandbox is starting: if the server dies, remove its work dir and, for a
        sandbox without a cgroup, kill its process group `pgid`."""
        with self._mutex:
            if self._closed:
                return
            self._tracked[str(work_dir)] = pgid
            self._tell(b"+" + json.dumps([str(work_dir), pgid]).encode())

    def untrack(self, work_dir: Path) -> None:
        with self._mutex:
            if self._closed or str(work_dir) not in self._tracked:
                return
            del self._tracked[str(work_dir)]
            self._tell(b"-" + json.dumps(str(work_dir)).encode())

    def close(self, timeout: float = 10.0) -> None:
        """Everything is cleaned up: let the supervisor go without reclaiming (blocking)."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            pipe, self._pipe = self._pipe, None
            if pipe is not None:
                try:
                    self._send_final(pipe)
                finally:
                    os.close(pipe)
            if self._proc is not None:
                try:
                    self._proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    log.warning("sandbox: supervisor %d did not exit; killing it", self._proc.pid)
                    self._proc.kill()
                    self._proc.wait()
            os.close(self._lock_fd)

    @staticmethod
    def _send_final(pipe: int) -> None:
        try:
            os.write(pipe, b".\n")
        except BrokenPipeError:
            pass
