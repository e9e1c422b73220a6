"""A function that goes after its in-sandbox init, the one process that speaks to the host.

Init holds the host channel. The function runs as the same uid in the same
sandbox, so it could trace init (PTRACE_ATTACH), copy init's fds into itself
(pidfd_getfd), read or write init's memory (process_vm_*, /proc/PID/mem) and
speak to the host as init. Init is not dumpable (only CAP_SYS_PTRACE, which
nothing in the sandbox has, reaches a non-dumpable process) and the seccomp
filter refuses the syscalls outright, as Lambda does for ptrace.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

import pytest

from support.hostile import sandbox_server
from support.invoke import InvokeServer, create_function, invoke_json

ATTACKER_SOURCE = r"""
import ctypes
import errno
import os

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.ptrace.restype = ctypes.c_long
NR = {  # x86_64, aarch64
    "pidfd_open": (434, 434), "pidfd_getfd": (438, 438), "process_vm_readv": (310, 270),
    "io_uring_setup": (425, 425), "ptrace": (101, 117),
}
ARCH = 0 if os.uname().machine == "x86_64" else 1
PTRACE_ATTACH, PTRACE_DETACH = 16, 17


def call(name, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(NR[name][ARCH]), *[ctypes.c_long(a) for a in args])
    return rc, ctypes.get_errno()


def attempt(fn):
    try:
        return fn()
    except OSError as e:
        return {"errno": e.errno}


class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def attack(pid):
    out = {}
    ctypes.set_errno(0)
    rc = libc.ptrace(PTRACE_ATTACH, pid, None, None)
    out["ptrace_attach"] = ctypes.get_errno() if rc == -1 else "attached"
    if rc == 0:
        libc.ptrace(PTRACE_DETACH, pid, None, None)
    pidfd, err = call("pidfd_open", pid, 0)
    out["pidfd_open"] = err if pidfd < 0 else "ok"
    stolen = []
    if pidfd >= 0:
        errors = set()
        for fd in range(64):
            got, err = call("pidfd_getfd", pidfd, fd, 0)
            if got >= 0:
                stolen.append(fd)
                os.close(got)
            else:
                errors.add(err)
        out["pidfd_getfd_errors"] = sorted(errors - {errno.EBADF})
        os.close(pidfd)
    out["pidfd_getfd_stolen"] = stolen
    buf = ctypes.create_string_buffer(64)
    local = IoVec(ctypes.cast(buf, ctypes.c_void_p), 64)
    remote = IoVec(0x400000, 64)
    rc, err = call("process_vm_readv", pid, ctypes.addressof(local), 1,
                   ctypes.addressof(remote), 1, 0)
    out["process_vm_readv"] = err if rc < 0 else "read"
    out["proc_mem"] = attempt(lambda: open(f"/proc/{pid}/mem", "rb").read(1) and "read")
    out["proc_fd"] = attempt(lambda: os.listdir(f"/proc/{pid}/fd"))
    out["proc_environ"] = attempt(lambda: len(open(f"/proc/{pid}/environ", "rb").read()))
    return out


def handler(event, context):
    params = ctypes.create_string_buffer(120)
    rc, err = call("io_uring_setup", 8, ctypes.addressof(params))
    if rc >= 0:
        os.close(rc)
    return {
        "init": attack(os.getppid()),
        "init_cmdline": open(f"/proc/{os.getppid()}/cmdline").read(),
        "io_uring_setup": err if rc < 0 else "ok",
    }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    with sandbox_server(tmp_path_factory, "init-attack") as running:
        yield running


@pytest.fixture(scope="module")
def attack(server: InvokeServer) -> dict[str, Any]:
    lam = server.client()
    create_function(lam, "init-attacker", {"app.py": ATTACKER_SOURCE})
    body, response = invoke_json(lam, "init-attacker")
    assert "FunctionError" not in response, body
    assert "--channel-fd" in body["init_cmdline"]  # the attack aimed at init itself
    result: dict[str, Any] = body
    return result


def test_init_cannot_be_traced(attack: dict[str, Any]) -> None:
    assert attack["init"]["ptrace_attach"] == errno.EPERM, attack


def test_init_fds_cannot_be_taken(attack: dict[str, Any]) -> None:
    init = attack["init"]
    assert init["pidfd_getfd_stolen"] == [], init
    assert init["pidfd_getfd_errors"] == [errno.EPERM], init
    assert init["proc_fd"] == {"errno": errno.EACCES}, init


def test_init_memory_cannot_be_read(attack: dict[str, Any]) -> None:
    init = attack["init"]
    assert init["process_vm_readv"] == errno.EPERM, init
    assert init["proc_mem"] == {"errno": errno.EACCES}, init
    assert init["proc_environ"] == {"errno": errno.EACCES}, init


def test_io_uring_is_refused(attack: dict[str, Any]) -> None:
    assert attack["io_uring_setup"] == errno.EPERM, attack


def test_the_function_still_runs_and_can_debug_nothing_but_itself(server: InvokeServer) -> None:
    body, response = invoke_json(server.client(), "init-attacker")
    assert "FunctionError" not in response, body
