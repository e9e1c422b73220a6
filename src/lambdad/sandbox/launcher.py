"""A process parked ahead of time that becomes the sandbox's first process on demand.

Why: on this kind of host, moving a process into a cgroup v1 group costs
6-12 ms after the system has idled (the kernel waits for an RCU grace
period). A launcher is spawned and moved into its sandbox's cgroups before any
request needs it; at start it receives argv, env and fds over a socket, puts
the fds in place and execs, so cgroup membership is in force before the first
instruction of user code and the move costs nothing on the request path.

The launcher is a standalone stdlib-only script run with `python -I -S`.
Its socket is close-on-exec, so the parent learns that exec succeeded when the
socket reaches EOF, and gets an error message otherwise.

The thread that spawns a launcher must outlive it: bwrap's --die-with-parent
uses PR_SET_PDEATHSIG, which fires when the *thread* that forked the parent
exits. `SpawnThread` is that long-lived thread.
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from lambdad.sandbox.base import SandboxError

log = logging.getLogger(__name__)
T = TypeVar("T")

LAUNCHER_SOURCE = r"""
import ctypes, fcntl, json, os, socket, sys

MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE, MS_SHARED = 2, 4, 4096, 16384, 1 << 18, 1 << 20
CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
libc = ctypes.CDLL(None, use_errno=True)

def check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, what + ": " + os.strerror(e))

def stage(root, binds, read_only, late):
    # In a mount namespace of our own (gone when the sandbox is), bind each
    # source below a world-traversable root, so that an unprivileged bwrap can
    # reach sources whose parents it could not traverse (e.g. a 0700 data dir).
    check(libc.unshare(CLONE_NEWNS), "unshare")
    check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    data = b"mode=0755,size=1m"
    check(libc.mount(b"tmpfs", root.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, data), "stage tmpfs")
    here = os.getcwd()
    os.chdir(root)  # overlay options name lower dirs as given: relative, neutral names
    os.mkdir("e")
    for src, dst in binds:
        if os.path.isdir(src) and dst in read_only:
            os.mkdir(dst)
            lower = "l" + os.path.basename(dst)
            os.mkdir(lower)
            bind(src, lower)
            if not overlay(lower, dst):
                bind(src, dst)
        elif os.path.isdir(src):
            os.mkdir(dst)
            bind(src, dst)
        else:
            open(dst, "w").close()
            bind(src, dst)
    for dst in late:
        # An empty mount point shared with the sandbox (bwrap binds it, as a slave):
        # what is mounted on it later from here (late_mounts.py) shows there.
        os.mkdir(dst)
        bind(dst, dst)
        check(libc.mount(None, dst.encode(), None, MS_SHARED, None), "share " + dst)
    os.chdir(here)

def bind(src, dst):
    check(libc.mount(src.encode(), dst.encode(), None, MS_BIND | MS_REC, None), "bind " + src)

def overlay(lower, dst):
    # A bind mount shows its source's path on the host in the sandbox's
    # /proc/self/mountinfo (the data dir, the code's hash). A read-only overlay of
    # it shows its own root and "lowerdir=lN:e" instead. Without overlayfs: False.
    data = ("lowerdir=" + lower + ":e").encode()
    return libc.mount(b"overlay", dst.encode(), b"overlay", MS_NOSUID | MS_NODEV, data) == 0

def own_network(ports):
    # A network namespace of our own that bwrap then shares (--share-net), made
    # here as root so its listeners are bound before any sandbox code runs: the
    # server relays what reaches them (forwarding.py) and the sandbox, whose user
    # namespace does not own this one, cannot reconfigure it.
    import struct
    check(libc.unshare(CLONE_NEWNET), "unshare net")
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got = fcntl.ioctl(ctl, 0x8913, struct.pack("16sH14x", b"lo", 0))  # SIOCGIFFLAGS
    flags = struct.unpack("16sH", got[:18])[1] | 0x41  # IFF_UP | IFF_RUNNING
    fcntl.ioctl(ctl, 0x8914, struct.pack("16sH14x", b"lo", flags))  # SIOCSIFFLAGS
    ctl.close()
    listeners = []
    for port in ports:
        ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", port))
        ls.listen(64)
        listeners.append(ls)
    return listeners

def set_limits(limits):
    import resource
    for name, (soft, hard) in limits.items():
        which = getattr(resource, "RLIMIT_" + name)
        try:
            resource.setrlimit(which, (soft, hard))
        except (ValueError, OSError):
            # Not allowed above our own hard limit (not root): as close as we may.
            ours = resource.getrlimit(which)[1]
            cap = lambda v: v if ours == resource.RLIM_INFINITY or 0 <= v <= ours else ours
            resource.setrlimit(which, (cap(soft), cap(hard)))

def main():
    s = socket.socket(fileno=int(sys.argv[1]))
    s.set_inheritable(False)
    s.send(b"R")
    msg, fds, _, _ = socket.recv_fds(s, 1 << 20, 250)
    if not msg:
        return 0
    try:
        req = json.loads(msg)
        targets = req["fd_targets"]
        floor = max([2, s.fileno(), *targets, *fds]) + 1
        # Our socket must outlive the shuffle below: a target may have its number.
        ours, s = s, socket.socket(fileno=fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, floor))
        ours.close()
        moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in fds]
        for fd in fds:
            os.close(fd)
        for src, dst in zip(moved, targets):
            os.dup2(src, dst)
        for fd in moved:
            os.close(fd)
        # Nothing but stdio, the requested fds and our socket crosses into the sandbox.
        keep = sorted({0, 1, 2, s.fileno(), *targets})
        for lo, hi in zip(keep, keep[1:] + [os.sysconf("SC_OPEN_MAX")]):
            os.closerange(lo + 1, hi)
        argv = req["argv"]
        if req["args_fd"]:
            # Keep env and mounts out of /proc/PID/cmdline, which all host users can read.
            # bwrap takes only options from --args; the command stays on the command line.
            cut = argv.index("--")
            mfd = os.memfd_create("args", 0)
            os.write(mfd, b"".join(a.encode() + b"\0" for a in argv[1:cut]))
            os.lseek(mfd, 0, os.SEEK_SET)
            argv = [argv[0], "--args", str(mfd), *argv[cut:]]
        if req.get("stage"):
            st = req["stage"]
            stage(st["root"], st["binds"], st["read_only"], st["late"])
        if req.get("listen_ports") is not None:
            listeners = own_network(req["listen_ports"])
            socket.send_fds(s, [b"L"], [ls.fileno() for ls in listeners])
            for ls in listeners:
                ls.close()
            if req["hold"] and s.recv(1) != b"G":
                return 0  # the host could not finish the network: it gave up on us
        if req["cwd"]:
            os.chdir(req["cwd"])
        if req["rlimits"]:
            set_limits(req["rlimits"])  # while still root: some may be above ours
        if req["gid"] is not None:
            os.setgroups([])
            os.setresgid(req["gid"], req["gid"], req["gid"])
        if req["uid"] is not None:
            os.setresuid(req["uid"], req["uid"], req["uid"])
        os.execve(argv[0], argv, req["env"])
    except BaseException as e:
        s.send(("E" + type(e).__name__ + ": " + str(e)).encode())
        return 127

sys.exit(main())
"""


@dataclass(frozen=True)
class Staging:
    """Sources to bind below `root` (a world-traversable dir) before exec.

    Directories staged at a path in `read_only` are shown through a read-only
    overlay rather than a bind: the sandbox's mountinfo then names no host path.
    Each of `late` is made an empty shared mount point (see `late_mounts.py`).
    """

    root: Path
    binds: tuple[tuple[Path, Path], ...]
    read_only: frozenset[Path] = frozenset()
    late: tuple[Path, ...] = ()


class Launcher:
    """One parked launcher process. Blocking methods; call from a worker thread."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self.proc = proc
        self._sock = sock

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def spawn(cls, python: str, timeout: float = 10.0) -> Launcher:
        """Start a launcher and wait until it is ready to receive its request."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            proc = subprocess.Popen(
                [python, "-I", "-S", "-c", LAUNCHER_SOURCE, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # our process group's signals (Ctrl-C) stay ours
            )
        finally:
            theirs.close()
        launcher = cls(proc, ours)
        ours.settimeout(timeout)
        try:
            ready = ours.recv(16)
        except OSError as e:
            launcher.kill()
            raise SandboxError(f"launcher did not start: {e}") from e
        if ready != b"R":
            launcher.kill()
            raise SandboxError(f"launcher did not start (exit {proc.poll()})")
        return launcher

    def exec(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        fds: Mapping[int, int],
        *,
        cwd: str | None = None,
        uid: int | None = None,
        gid: int | None = None,
        args_fd: bool = False,
        stage: Staging | None = None,
        rlimits: Mapping[str, tuple[int, int]] | None = None,
        listen_ports: Sequence[int] | None = None,
        hold: Callable[[int], None] | None = None,
        timeout: float = 10.0,
    ) -> list[socket.socket]:
        """Make the launcher exec `argv`; `fds` maps target fd number -> our fd to put there.

        With `stage`, the launcher first binds each source below `stage.root` in a
        private mount namespace (then drops to `uid`/`gid`, if given). `rlimits`
        (name after RLIMIT_ -> soft, hard) are set just before the drop.
        With `listen_ports` (needs root), it moves to a new network namespace with
        its loopback up, listens on 127.0.0.1 at each port there, and returns those
        listening sockets (in order) to us: argv must then share that namespace.
        `hold(pid)` is then called before the launcher may exec (e.g. to connect
        that namespace to something); if it raises, the launcher exits instead.
        """
        req = {
            "argv": list(argv),
            "env": dict(env),
            "stage": None
            if stage is None
            else {
                "root": str(stage.root),
                "binds": [[str(a), str(b)] for a, b in stage.binds],
                "read_only": [str(p) for p in stage.read_only],
                "late": [str(p) for p in stage.late],
            },
            "fd_targets": list(fds),
            "cwd": cwd,
            "uid": uid,
            "gid": gid,
            "args_fd": args_fd,
            "rlimits": dict(rlimits or {}),
            "listen_ports": None if listen_ports is None else list(listen_ports),
            "hold": hold is not None,
        }
        listeners: list[socket.socket] = []
        try:
            socket.send_fds(self._sock, [json.dumps(req).encode()], list(fds.values()))
            self._sock.settimeout(timeout)
            if listen_ports is None:
                reply = self._sock.recv(4096)
            else:
                reply, got, _, _ = socket.recv_fds(self._sock, 4096, len(listen_ports) + 1)
                listeners = [socket.socket(fileno=fd) for fd in got]
                if reply == b"L" and len(listeners) == len(listen_ports):
                    if hold is not None:
                        hold(self.pid)
                        self._sock.send(b"G")
                    reply = self._sock.recv(4096)
        except BaseException as e:
            _close_all(listeners)
            if not isinstance(e, OSError):
                raise
            raise SandboxError(f"launcher {self.pid}: {e}") from e
        finally:
            self._sock.close()
        if reply:
            _close_all(listeners)
            raise SandboxError(f"cannot exec {argv[0]}: {reply[1:].decode(errors='replace')}")
        return listeners

    def kill(self) -> None:
        self._sock.close()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def _close_all(sockets: Sequence[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


class SpawnThread:
    """One long-lived thread that forks every launcher (see the module docstring)."""

    def __init__(self, name: str = "lambdad-sandbox-spawn") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        return self._pool.submit(fn)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
