"""A seccomp filter that refuses the few syscalls a function has no use for
and that reach state shared with the host.

The sandbox runs without capabilities, which already refuses most dangerous
syscalls (mount, modules, reboot). What remains is what the kernel grants by
uid, and the sandbox's uid is root's on the host: the kernel keyrings of
uid 0 above all. The filter is classic BPF, built here (no libseccomp) and
handed to bubblewrap (`--seccomp FD`); it answers EPERM, like Docker's
default profile, rather than killing the process.
"""

from __future__ import annotations

import errno
import logging
import platform
import struct

log = logging.getLogger(__name__)

DENIED = (
    "add_key",
    "request_key",
    "keyctl",
    "userfaultfd",
    "perf_event_open",
    "bpf",
    "kexec_load",
    "kexec_file_load",
    "open_by_handle_at",
    "acct",
    "quotactl",
    "swapon",
    "swapoff",
    # Another process's memory and fds: nothing in a sandbox may trace or copy from
    # another (above all the init, which holds the host channel). Lambda refuses
    # ptrace too.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    # io_uring: a large kernel surface with a history of escapes, and its requests
    # bypass this filter (they are not syscalls).
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
)

# (AUDIT_ARCH value, syscall numbers) per machine.
_ARCHES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (
        0xC000003E,
        {
            "add_key": 248, "request_key": 249, "keyctl": 250, "userfaultfd": 323,
            "perf_event_open": 298, "bpf": 321, "kexec_load": 246, "kexec_file_load": 320,
            "open_by_handle_at": 304, "acct": 163, "quotactl": 179, "swapon": 167,
            "swapoff": 168, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
            "pidfd_getfd": 438, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427,
        },
    ),
    "aarch64": (
        0xC00000B7,
        {
            "add_key": 217, "request_key": 218, "keyctl": 219, "userfaultfd": 282,
            "perf_event_open": 241, "bpf": 280, "kexec_load": 104, "kexec_file_load": 294,
            "open_by_handle_at": 265, "acct": 89, "quotactl": 60, "swapon": 224,
            "swapoff": 225, "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271,
            "pidfd_getfd": 438, "io_uring_setup": 425, "io_uring_enter": 426,
            "io_uring_register": 427,
        },
    ),
}  # fmt: skip

_BPF_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_BPF_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_BPF_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_BPF_RET_K = 0x06  # BPF_RET | BPF_K
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_SECCOMP_RET_KILL_PROCESS = 0x80000000
_X32_SYSCALL_BIT = 0x40000000
_OFFSET_NR, _OFFSET_ARCH = 0, 4  # struct seccomp_data


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def deny_filter(names: tuple[str, ...] = DENIED, machine: str | None = None) -> bytes | None:
    """The compiled filter for this machine, or None where we lack its syscall table."""
    arch = _ARCHES.get(machine or platform.machine())
    if arch is None:
        log.warning("seccomp: no syscall table for %s; sandboxes run without a filter", machine)
        return None
    audit_arch, numbers = arch
    denied = [numbers[name] for name in names]
    refuse = _SECCOMP_RET_ERRNO | errno.EPERM
    program = [
        # A foreign ABI (e.g. 32-bit calls on x86_64) would bypass the numbers below.
        _insn(_BPF_LD_W_ABS, 0, 0, _OFFSET_ARCH),
        _insn(_BPF_JEQ_K, 1, 0, audit_arch),
        _insn(_BPF_RET_K, 0, 0, _SECCOMP_RET_KILL_PROCESS),
        _insn(_BPF_LD_W_ABS, 0, 0, _OFFSET_NR),
    ]
    if audit_arch == _ARCHES["x86_64"][0]:
        # x32 calls share the arch value; refuse them all.
        program.append(_insn(_BPF_JGE_K, 0, 1, _X32_SYSCALL_BIT))
        program.append(_insn(_BPF_RET_K, 0, 0, refuse))
    for i, number in enumerate(denied):
        # Jump to the final "refuse" when equal; the jump skips the rest of the list.
        remaining = len(denied) - i - 1
        program.append(_insn(_BPF_JEQ_K, remaining + 1, 0, number))
    program.append(_insn(_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW))
    program.append(_insn(_BPF_RET_K, 0, 0, refuse))
    return b"".join(program)
