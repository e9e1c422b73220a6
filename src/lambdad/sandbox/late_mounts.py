"""Mounts made into a sandbox after it started: a parked environment's /var/task and /opt.

Why: a ready (parked) environment is started before its function is known, so
its sandbox begins with empty mount points where the function's code and
layers go. The launcher stages each of them as an empty *shared* mount point
in its own mount namespace (`launcher.py`), which bwrap binds into the sandbox
read-only; the kernel makes the sandbox's copy a slave of it. A mount made on
the staged point later, from the launcher's namespace, therefore shows in the
sandbox too, and nothing the sandbox does can undo it (it has no capability,
and a mount propagated from a more privileged namespace is locked).

The mount itself is the same read-only overlay the launcher makes for
/var/task at a regular start (its relative lower dir names no host path in the
sandbox's mountinfo), made with MS_RDONLY so the sandbox's view is read-only
both per mount and per superblock.

The same helper detaches what a staging namespace no longer needs once its
sandbox runs (`detach`: the other sandboxes' /tmp disks, see `tmpdisk.py`).

Entering another mount namespace (setns) needs a single-threaded process, so
the server keeps one small helper for it (`Mounter`, a stdlib-only script run
with `python -I -S`, root), which goes back to its own namespace after each mount.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from pathlib import Path

from lambdad.sandbox.base import SandboxError

MOUNTER_SOURCE = r"""
import ctypes, json, os, socket, sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_REC = 1, 2, 4, 4096, 16384
CLONE_NEWNS, MNT_DETACH = 0x00020000, 2
libc = ctypes.CDLL(None, use_errno=True)
HOME = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)

def check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, what + ": " + os.strerror(e))

def attach(pid, root, point, source):
    ns = os.open("/proc/%d/ns/mnt" % pid, os.O_RDONLY | os.O_CLOEXEC)
    try:
        check(libc.setns(ns, CLONE_NEWNS), "enter the sandbox's staging namespace")
    finally:
        os.close(ns)
    try:
        os.chdir(root)  # overlay options name lower dirs as given: relative, neutral names
        lower = "l" + point
        os.mkdir(lower)
        check(libc.mount(source.encode(), lower.encode(), None, MS_BIND | MS_REC, None), "bind")
        data = ("lowerdir=" + lower + ":e").encode()
        flags = MS_RDONLY | MS_NOSUID | MS_NODEV
        check(libc.mount(b"overlay", point.encode(), b"overlay", flags, data), "overlay")
    finally:
        check(libc.setns(HOME, CLONE_NEWNS), "go back")
        os.chdir("/")

def detach(pid, path):
    ns = os.open("/proc/%d/ns/mnt" % pid, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(ns).st_ino == os.fstat(HOME).st_ino:
            # Never our own (the host's): a pid reused since would take every disk.
            raise OSError(22, "not a staging namespace")
        check(libc.setns(ns, CLONE_NEWNS), "enter the sandbox's staging namespace")
    finally:
        os.close(ns)
    try:
        if libc.umount2(path.encode(), MNT_DETACH) != 0 and ctypes.get_errno() != 22:
            check(-1, "detach " + path)
    finally:
        check(libc.setns(HOME, CLONE_NEWNS), "go back")
        os.chdir("/")

s = socket.socket(fileno=int(sys.argv[1]))
while True:
    msg = s.recv(65536)
    if not msg:
        break
    try:
        req = json.loads(msg)
        if req.get("op") == "detach":
            detach(req["pid"], req["path"])
        else:
            attach(req["pid"], req["root"], req["point"], req["source"])
        s.send(b"K")
    except Exception as e:
        s.send(("E" + type(e).__name__ + ": " + str(e)).encode())
"""


class Mounter:
    """The helper that mounts into sandboxes' staging namespaces (root only).

    Blocking, thread-safe; started on first use, stopped by `close()`."""

    def __init__(self, python: str) -> None:
        self._python = python
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None

    def attach(self, pid: int, point: Path, source: Path, timeout: float = 10.0) -> None:
        """Mount `source` read-only on the staged `point` in the namespace of `pid`
        (a launcher that staged it, still alive: our unreaped child)."""
        req = {"pid": pid, "root": str(point.parent), "point": point.name, "source": str(source)}
        self._ask(req, f"cannot mount {source} into sandbox {pid}", timeout)

    def detach(self, pid: int, path: Path, timeout: float = 10.0) -> None:
        """Detach the mount at `path`, with everything below it, in the namespace of
        `pid` (a launcher that staged, still alive): what its sandbox no longer needs."""
        req = {"op": "detach", "pid": pid, "path": str(path)}
        self._ask(req, f"cannot detach {path} in sandbox {pid}", timeout)

    def _ask(self, req: dict[str, object], failure: str, timeout: float) -> None:
        with self._lock:
            sock = self._ensure()
            try:
                sock.settimeout(timeout)
                sock.send(json.dumps(req).encode())
                reply = sock.recv(4096)
            except OSError as e:
                self._stop()
                raise SandboxError(f"{failure}: {e}") from e
        if reply != b"K":
            message = reply[1:].decode(errors="replace") if reply else "the helper ended"
            if not reply:
                with self._lock:
                    self._stop()
            raise SandboxError(f"{failure}: {message}")

    def _ensure(self) -> socket.socket:
        if self._sock is not None and self._proc is not None and self._proc.poll() is None:
            return self._sock
        self._stop()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._proc = subprocess.Popen(
                [self._python, "-I", "-S", "-c", MOUNTER_SOURCE, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            theirs.close()
        self._sock = ours
        return ours

    def _stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None

    def close(self) -> None:
        with self._lock:
            self._stop()
