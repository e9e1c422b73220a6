"""Forks from a template, in its runtime (inside the sandbox): SnapStart's restores, and
on-demand environments forked before their Init (lambdad's `pool/preinit.py`)).

A SnapStart version's template is a sandbox like any other whose runtime ran
Init and the before-snapshot hooks, then calls `serve_forks` instead of asking
for events. Each fork command from the host is one SOCK_SEQPACKET message on
the template's fork channel: a JSON header ({tmp_mb, forwards, listen, cwd})
and, as SCM_RIGHTS, three fds, in this order, and an optional fourth:

    0  init's channel: the fork protocol below ("A", "P", "R", "G"), then init's
       own frames (the runtime's exit; see `init.py`), the new pid 1's
    1  the runtime's direct channel: the private Runtime API frames, spoken by
       the restored runtime with the host itself (lambdad's `runtimes/direct.py`)
    2  the write end of a pipe the host reads: the restored runtime's stdout and
       stderr
    3  (on-demand templates) the environment's /tmp: a detached mount of a disk
       the host made for it (open_tree), which it attaches with move_mount

A message with any other number of fds is ignored (its fds closed). Each
command becomes an environment of its own:

    template runtime ── fork ──> child: unshare(mount, pid, net, ipc, uts)
                                 ── fork ──> pid 1 of the new pid namespace:
        its own /tmp (fd 3's disk, or a tmpfs of the version's ephemeral storage
        size; either holding a copy of the template's), its own /dev/shm and
        /dev/pts, a fresh read-only /proc, every other writable mount remounted
        read-only, its loopback up with the forwards' listening sockets bound on
        it, every capability dropped
        (born in a cgroup of our own with the function's limits: the first child
        said "A", the host learnt its pid from SCM_CREDENTIALS, moved it there and
        said "M"; "P" to the host: it learns our pid the same way); then "R"
        (+ the listeners, SCM_RIGHTS): the host checks us and answers "G" with our
        variables (at once, or at the cold start we were made ahead for)
        ── fork ──> the runtime (returns from `serve_forks` with fd 1 as its
        channel, fd 2 as its stdout and stderr); pid 1 keeps neither and runs
        lambdad's init for it (`init.run_restored`): reaping, the HTTP Runtime
        API and the runtime's exit, as pid 1 of an on-demand sandbox does. No
        frame of an invocation crosses pid 1.

The capabilities the template holds (CAP_SYS_ADMIN and CAP_NET_ADMIN in its
sandbox's own user namespace, for the namespaces and mounts above) are gone
before the host releases a child: the host reads the child's capability sets,
no_new_privs and seccomp state from /proc and refuses a child that kept any.

Standalone and stdlib-only, like the bootstrap that imports it (only in a template).
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import socket
import struct
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
SIOCSIFFLAGS, IFF_UP = 0x8914, 1
CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x4000000, 0x8000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
SYS_MOVE_MOUNT, MOVE_MOUNT_F_EMPTY_PATH, AT_FDCWD = 429, 4, -100
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}
LINUX_CAPABILITY_VERSION_3 = 0x20080522
MAX_COMMAND = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            None if fstype is None else fstype.encode(),
            flags,
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


FORK_FDS = 3
"""The fds of a fork command: init's channel, the runtime's channel, its output pipe."""


def serve_forks(control_fd: int, close_fds: tuple[int, ...]) -> tuple[int, dict, dict]:
    """Fork an environment for each command on `control_fd` (never returns in the
    template: it exits when the host closes the channel). Returns in each
    environment's runtime: (its channel fd, its environment variables, the command),
    its stdout and stderr on the host's pipe. `close_fds` are the template's own (its
    runtime channel): no child keeps them."""
    control = socket.socket(fileno=control_fd)
    # Each page this loop writes after a fork is copied: the children keep the old one
    # (charged to the template's cgroup). The collector would write to every object.
    gc.collect()
    gc.freeze()
    gc.disable()
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(control, MAX_COMMAND, FORK_FDS + 2)
        except InterruptedError:
            continue
        if not message:
            os._exit(0)  # the host is gone: so is this template
        if len(fds) not in (FORK_FDS, FORK_FDS + 1):
            for fd in fds:
                os.close(fd)
            continue
        # A fourth: the child's own /tmp, a detached mount of a disk the host made.
        fds, tmp_fd = fds[:FORK_FDS], (fds[FORK_FDS] if len(fds) > FORK_FDS else -1)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            try:
                gc.enable()  # the template's objects stay frozen: never written for it
                control.close()
                for fd in close_fds:
                    os.close(fd)
                return _restore(fds, json.loads(message), tmp_fd)
            except BaseException as exc:
                try:
                    os.write(2, f"restore: {type(exc).__name__}: {exc}\n".encode())
                finally:
                    os._exit(1)
        for fd in fds:
            os.close(fd)
        if tmp_fd >= 0:
            os.close(tmp_fd)
        os.waitpid(pid, 0)


def _restore(fds: list[int], command: dict, tmp_fd: int = -1) -> tuple[int, dict, dict]:
    """The first child: new namespaces; its child is the environment's pid 1. It writes
    nothing before the host moved it into the environment's cgroup ("A", then "M"):
    what it and its child write then is charged there, not to the template."""
    conn = socket.socket(fileno=fds[0])
    conn.sendall(b"A")
    if _read(conn, 1) != b"M":
        os._exit(1)
    conn.detach()
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    _check(_libc.unshare(flags), "unshare")  # libc's: os.unshare is Python 3.12+
    # Nothing mounted from now on reaches the template's mount namespace.
    _mount("none", "/", None, MS_REC | MS_PRIVATE)
    if os.fork():
        os._exit(0)
    return _pid_one(fds, command, tmp_fd)


def _pid_one(fds: list[int], command: dict, tmp_fd: int = -1) -> tuple[int, dict, dict]:
    host_fd, runtime_fd, output_fd = fds
    conn = socket.socket(fileno=host_fd)
    conn.sendall(b"P")  # born in our cgroup (see `_restore`): the host checks who we are
    old_tmp = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
    if tmp_fd >= 0:  # a disk of our own the host made (a detached mount): ours at /tmp
        _check(
            _libc.syscall(SYS_MOVE_MOUNT, tmp_fd, b"", AT_FDCWD, b"/tmp", MOVE_MOUNT_F_EMPTY_PATH),
            "move_mount /tmp",
        )
        os.close(tmp_fd)
    else:
        size = int(command["tmp_mb"])
        _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size}m,mode=1777")
    _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=64m,mode=1777")
    _mount("proc", "/proc", "proc", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mount(
        "devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620"
    )
    _copy_tree(old_tmp, "/tmp")
    os.close(old_tmp)
    _read_only_rest()
    _loopback_up()
    listeners = []
    for port in command.get("forwards", []):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", int(port)))
        sock.listen(64)
        listeners.append(sock)
    _drop_capabilities()
    # The host learns our pid from this message's credentials (SO_PASSCRED).
    socket.send_fds(conn, [b"R"], [s.fileno() for s in listeners])
    for sock in listeners:
        sock.close()
    if _read(conn, 1) != b"G":
        os._exit(1)  # the host refused this environment
    size = int.from_bytes(_read(conn, 4), "big")
    if size > MAX_COMMAND:
        os._exit(1)
    command["env"] = json.loads(_read(conn, size))  # its own: log stream, credentials

    import init  # loaded in the template (`prepare`): no file is read here

    runtime = os.fork()
    if runtime == 0:
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        conn.close()
        return runtime_fd, command.get("env") or {}, command
    # The runtime's and the host's alone: their EOFs stay theirs.
    os.close(runtime_fd)
    os.close(output_fd)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):  # the template's output pipe: not ours to hold
        os.dup2(null, fd)
    os.close(null)
    init.run_restored(conn.detach(), command.get("listen") or "127.0.0.1:9001", runtime)
    os._exit(0)  # run_restored never returns


OWN_MOUNTS = ("/tmp", "/dev/shm", "/dev/pts")
"""This environment's own writable mounts (made above); every other one is read-only."""
_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC}


def _read_only_rest() -> None:
    """Remount read-only every other writable dir mount (the sandbox's root and /dev
    tmpfs, which every environment of the template would share). Device nodes bound
    from the host stay as they are (writing to one writes no file)."""
    with open("/proc/self/mountinfo") as mounts:
        lines = mounts.read().splitlines()
    for line in lines:
        fields = line.split()
        target, options = fields[4], fields[5].split(",")
        if "rw" not in options or target in OWN_MOUNTS or target.startswith("/proc"):
            continue
        if not os.path.isdir(target):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for name in options:
            flags |= _FLAGS.get(name, 0)
        _mount("none", target, None, flags)


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            os._exit(1)  # the host is gone
        data += chunk
    return data


def prepare(runtime_dir: str) -> None:
    """In the template, before any fork: load init's module (pid 1 of each restored
    environment runs its loop) from the runtime's dir."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("init", f"{runtime_dir}/init.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {runtime_dir}/init.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["init"] = module


def _copy_tree(src_fd: int, dest: str) -> None:
    """What Init left in the template's /tmp (the snapshot's disk), into ours."""
    names = os.listdir(src_fd)
    if not names:
        return
    import shutil

    source = f"/proc/self/fd/{src_fd}"
    for name in names:
        path = f"{source}/{name}"
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.copytree(path, f"{dest}/{name}", symlinks=True)
        else:
            shutil.copy2(path, f"{dest}/{name}", follow_symlinks=False)


def _loopback_up() -> None:
    """`ip link set lo up`, in our new network namespace."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        import fcntl

        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", IFF_UP))
    finally:
        sock.close()


def _drop_capabilities() -> None:
    """capset(all sets empty): permitted, effective, inheritable and so ambient."""
    number = SYS_CAPSET.get(os.uname().machine)
    if number is None:
        raise OSError(0, f"capset: unknown machine {os.uname().machine}")
    header = (ctypes.c_uint32 * 2)(LINUX_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.syscall(number, header, data), "capset")


def run_hooks(hooks: list[Any]) -> None:
    """Call each (func, args, kwargs) in order."""
    for func, args, kwargs in hooks:
        func(*args, **kwargs)
