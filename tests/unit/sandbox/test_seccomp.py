import struct

from lambdad.sandbox.seccomp import DENIED, deny_filter


def instructions(program: bytes) -> list[tuple[int, int, int, int]]:
    return [struct.unpack("=HBBI", program[i : i + 8]) for i in range(0, len(program), 8)]


def run_filter(program: bytes, arch: int, nr: int) -> int:
    """A tiny classic-BPF interpreter for the instructions the filter uses."""
    insns = instructions(program)
    pc, acc = 0, 0
    data = {0: nr, 4: arch}
    while True:
        code, jt, jf, k = insns[pc]
        if code == 0x20:
            acc = data[k]
            pc += 1
        elif code == 0x15:
            pc += 1 + (jt if acc == k else jf)
        elif code == 0x35:
            pc += 1 + (jt if acc >= k else jf)
        elif code == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


def test_x86_64_filter_refuses_the_listed_calls_only() -> None:
    program = deny_filter(machine="x86_64")
    assert program is not None
    arch = 0xC000003E
    assert run_filter(program, arch, 250) == 0x00050000 | 1  # keyctl -> EPERM
    assert run_filter(program, arch, 248) == 0x00050000 | 1  # add_key
    for nr in (101, 310, 311, 438):  # ptrace, process_vm_readv/writev, pidfd_getfd
        assert run_filter(program, arch, nr) == 0x00050000 | 1
    for nr in (425, 426, 427):  # io_uring_setup, _enter, _register
        assert run_filter(program, arch, nr) == 0x00050000 | 1
    assert run_filter(program, arch, 434) == 0x7FFF0000  # pidfd_open is allowed
    assert run_filter(program, arch, 0) == 0x7FFF0000  # read is allowed
    assert run_filter(program, arch, 59) == 0x7FFF0000  # execve is allowed
    assert run_filter(program, arch, 0x40000000 + 250) == 0x00050000 | 1  # x32 ABI
    assert run_filter(program, 0x40000003, 250) == 0x80000000  # i386 ABI: killed


def test_aarch64_filter_and_unknown_machines() -> None:
    program = deny_filter(machine="aarch64")
    assert program is not None
    refused = [n for n in range(500) if run_filter(program, 0xC00000B7, n) != 0x7FFF0000]
    assert len(refused) == len(DENIED)
    assert deny_filter(machine="sparc") is None
