"""Real sandboxes on this host: isolation, limits, freezer and cleanup (root + bwrap)."""

from __future__ import annotations

import errno
import json
import os
import resource
import socket
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import anyio
import pytest

from lambdad.sandbox import (
    BwrapBackend,
    ExitStatus,
    Mount,
    ProcessBackend,
    Sandbox,
    SandboxBackend,
    SandboxSpec,
)
from lambdad.sandbox.backend import unprivileged_bwrap_works
from lambdad.sandbox.host_ids import HOST_ID_BASE
from lambdad.sandbox.rlimits import LAMBDA_RLIMITS
from lambdad.sandbox.running import RunningSandbox
from support.marks import needs_sandbox
from support.waiting import wait_until, wait_until_async

pytestmark = [
    pytest.mark.integration,
    pytest.mark.anyio,
    *needs_sandbox,
]

PYTHON = os.path.realpath(sys.executable)
CHECKOUT = Path(__file__).resolve().parents[3]  # this repository: never visible inside
PREFIX = Path(sys.base_prefix)


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[BwrapBackend]:
    b = BwrapBackend(state_dir=tmp_path / "state", spares=1, spare_tmp_mb=16)
    yield b
    await b.close()


def make_spec(tmp_path: Path, script: str, **kw: Any) -> SandboxSpec:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    out.chmod(0o777)  # the sandbox's host uid is not ours: let it write here
    base: dict[str, Any] = dict(
        sandbox_id="t1",
        argv=(PYTHON, "-I", "-S", "-c", textwrap.dedent(script)),
        env={"LAMBDA_TASK_ROOT": "/var/task", "ONLY": "this"},
        mounts=(Mount(PREFIX, str(PREFIX)), Mount(code, "/var/task"), Mount(out, "/out", True)),
        memory_mb=128,
        ephemeral_storage_mb=16,
        work_dir=tmp_path / "work",
    )
    base.update(kw)
    return SandboxSpec(**base)


async def run(
    backend: SandboxBackend, tmp_path: Path, script: str, **kw: Any
) -> tuple[ExitStatus, str, Sandbox]:
    log = tmp_path / "stdout.txt"
    with open(log, "wb") as f:
        spec = make_spec(tmp_path, script, stdout_fd=f.fileno(), stderr_fd=f.fileno(), **kw)
        sb = await backend.start(spec)
    with anyio.fail_after(20):
        status = await sb.wait()
    return status, log.read_text(), sb


def assert_gone(sb: Sandbox) -> None:
    rs = cast(RunningSandbox, sb)
    slot = rs._slot
    assert slot.cgroup is not None
    assert all(not d.exists() for d in slot.cgroup.dirs.values())
    mounts = Path("/proc/self/mounts").read_text()
    assert slot.disk is not None and str(slot.disk.path) not in mounts
    assert not slot.disk.root.exists()
    assert not sb.spec.work_dir.exists()
    assert not Path(f"/proc/{sb.pid}").exists()


async def test_exit_code_env_uid_cwd(backend: BwrapBackend, tmp_path: Path) -> None:
    status, out, sb = await run(
        backend,
        tmp_path,
        """
        import json, os, sys
        print(json.dumps({"env": dict(os.environ), "uid": os.getuid(), "gid": os.getgid(),
                          "cwd": os.getcwd(), "fds": sorted(os.listdir("/proc/self/fd"))}))
        sys.exit(3)
        """,
    )
    assert status == ExitStatus(returncode=3, signal=None, oom_killed=False)
    info = json.loads(out)
    # Python itself adds LC_CTYPE (PEP 538); /usr/bin/env below shows the real env.
    assert info["env"]["ONLY"] == "this"
    assert (info["uid"], info["gid"]) == (993, 990)
    assert info["cwd"] == "/var/task"
    assert info["fds"] == ["0", "1", "2", "3"]  # 3 is listdir's own
    await sb.destroy("done")
    await sb.destroy("again")  # idempotent
    assert_gone(sb)


async def test_env_is_exactly_the_spec(backend: BwrapBackend, tmp_path: Path) -> None:
    status, out, sb = await run(backend, tmp_path, "", argv=("/usr/bin/env",))
    assert status.returncode == 0
    env = dict(line.split("=", 1) for line in out.splitlines())
    # bwrap always exports PWD for the cwd it chdir'd to (documented deviation).
    assert env == {"LAMBDA_TASK_ROOT": "/var/task", "ONLY": "this", "PWD": "/var/task"}
    await sb.destroy("done")


async def test_cannot_see_host_files_or_processes(backend: BwrapBackend, tmp_path: Path) -> None:
    secret = tmp_path / "secret" / "key.txt"
    secret.parent.mkdir()
    secret.write_text("s3cr3t")
    status, out, sb = await run(
        backend,
        tmp_path,
        f"""
        import os
        res = {{}}
        probes = [{str(secret)!r}, {str(CHECKOUT)!r}, "/etc/shadow", "/root/.bashrc"]
        for p in [*probes, "/home", "/sys"]:
            try:
                os.listdir(p) if os.path.isdir(p) else open(p).read()
                res[p] = "READ"
            except OSError as e:
                res[p] = type(e).__name__
        res["pids"] = [d for d in os.listdir("/proc") if d.isdigit()]
        print(res)
        """,
    )
    assert status.returncode == 0, out
    res = eval(out)
    assert "READ" not in res.values(), res
    assert len(res.pop("pids")) <= 3
    await sb.destroy("done")


async def test_cannot_write_host_kernel_settings(backend: BwrapBackend, tmp_path: Path) -> None:
    # The sandbox uid maps to host root (no capabilities): files owned by root
    # must still be out of reach, e.g. sysctls whose handlers check no capability.
    status, out, sb = await run(
        backend,
        tmp_path,
        """
        res = {}
        # Each write puts back the value already there: should the sandbox leak,
        # the test fails without changing the host.
        for p in ["/proc/sys/vm/swappiness", "/proc/sys/kernel/printk"]:
            try:
                current = open(p).read()
                with open(p, "w") as f:
                    f.write(current)
                res[p] = "WROTE"
            except OSError as e:
                res[p] = type(e).__name__
        print(res)
        """,
    )
    assert status.returncode == 0, out
    res = eval(out)
    assert "WROTE" not in res.values(), res
    await sb.destroy("done")


async def test_no_nested_user_namespaces(backend: BwrapBackend, tmp_path: Path) -> None:
    status, out, sb = await run(
        backend,
        tmp_path,
        """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        CLONE_NEWUSER = 0x10000000
        if libc.unshare(CLONE_NEWUSER) == 0:
            print("UNSHARED")
        else:
            print("refused", os.strerror(ctypes.get_errno()))
        """,
    )
    assert status.returncode == 0, out
    assert "UNSHARED" not in out
    await sb.destroy("done")


async def test_keyrings_are_refused_and_the_filter_fd_does_not_leak(
    backend: BwrapBackend, tmp_path: Path
) -> None:
    status, out, sb = await run(
        backend,
        tmp_path,
        """
        import ctypes, os, platform
        libc = ctypes.CDLL(None, use_errno=True)
        keyctl = {"x86_64": 250, "aarch64": 219}[platform.machine()]
        KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING = 0, -4
        rc = libc.syscall(keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0)
        print(rc, os.strerror(ctypes.get_errno()), sorted(os.listdir("/proc/self/fd")))
        """,
    )
    assert status.returncode == 0, out
    rc, _, rest = out.strip().partition(" ")
    assert rc == "-1" and "Operation not permitted" in out, out
    fds = eval(rest[rest.index("[") :])
    assert fds == ["0", "1", "2", "3"], out  # stdio, and the listing's own fd
    await sb.destroy("done")


async def test_passed_fds_with_high_numbers_arrive_intact(
    backend: BwrapBackend, tmp_path: Path
) -> None:
    # A busy server's fds run into the hundreds or past the sandbox's own limit of
    # 1024; the ones it passes must reach the sandbox unharmed, whatever else (the
    # seccomp filter) travels with them.
    high = 1500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft <= high + 10:
        if hard != resource.RLIM_INFINITY and hard <= high + 10:
            pytest.skip(f"this process may not open fd {high}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (high + 100, hard))
    read_end, write_end = os.pipe()
    os.dup2(write_end, high)
    os.close(write_end)
    try:
        status, out, sb = await run(
            backend,
            tmp_path,
            f"import os; os.write({high}, b'through')",
            pass_fds=(high,),
        )
    finally:
        os.close(high)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert status.returncode == 0, out
    assert os.read(read_end, 100) == b"through"
    os.close(read_end)
    await sb.destroy("done")


def host_uids(sandbox: Sandbox) -> set[int]:
    """The host uids of every process of a running sandbox (once its init runs)."""
    cgroup = cast(RunningSandbox, sandbox)._slot.cgroup
    assert cgroup is not None
    wait_until(lambda: len(cgroup.pids()) >= 2, "the sandbox's init to run")
    uids = set()
    for pid in cgroup.pids():
        status = Path(f"/proc/{pid}/status").read_text()
        uids.add(int(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1]))
    return uids


async def test_each_sandbox_is_an_unprivileged_host_uid_of_its_own(
    backend: BwrapBackend, tmp_path: Path
) -> None:
    if not unprivileged_bwrap_works(backend._bwrap):
        pytest.skip("this host refuses user namespaces to unprivileged users")
    started = []
    try:
        for name in ("a", "b", "again"):
            (tmp_path / name).mkdir()
        for name in ("a", "b"):
            spec = make_spec(tmp_path / name, "import time; time.sleep(30)")
            started.append(await backend.start(spec))
        first, second = (host_uids(sb) for sb in started)
        assert len(first) == len(second) == 1, (first, second)
        assert first != second
        assert all(uid >= HOST_ID_BASE for uid in first | second)
        # A uid is given back once its sandbox is gone, and handed out again.
        await started.pop(0).destroy("done")
        spec = make_spec(tmp_path / "again", "import time; time.sleep(30)")
        started.append(await backend.start(spec))
        assert host_uids(started[-1]) == first
    finally:
        for sb in started:
            await sb.destroy("done")


async def test_rlimits_are_lambdas_inside(backend: BwrapBackend, tmp_path: Path) -> None:
    status, out, sb = await run(
        backend,
        tmp_path,
        f"""
        import resource
        for name in {sorted(LAMBDA_RLIMITS)!r}:
            print(name, *resource.getrlimit(getattr(resource, "RLIMIT_" + name)))
        """,
    )
    await sb.destroy("done")
    assert status.returncode == 0, out
    rows = [line.split() for line in out.splitlines()]
    seen = {name: (int(soft), int(hard)) for name, soft, hard in rows}
    assert seen == dict(LAMBDA_RLIMITS)


async def test_network_none_cannot_reach_host(backend: BwrapBackend, tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        status, out, sb = await run(
            backend,
            tmp_path,
            f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=2)
                print("CONNECTED")
            except OSError as e:
                print("refused", e)
            """,
        )
    assert "refused" in out and "CONNECTED" not in out
    await sb.destroy("done")


async def test_code_read_only_and_tmp_enospc(backend: BwrapBackend, tmp_path: Path) -> None:
    status, out, sb = await run(
        backend,
        tmp_path,
        """
        import errno
        try:
            open("/var/task/x", "w")
        except OSError as e:
            print("task", errno.errorcode[e.errno])
        n = 0
        try:
            with open("/tmp/big", "wb") as f:
                for _ in range(64):
                    f.write(b"x" * (1 << 20))
                    f.flush()
                    n += 1
        except OSError as e:
            print("tmp", errno.errorcode[e.errno], n)
        """,
    )
    lines = dict(line.split(" ", 1) for line in out.splitlines())
    assert lines["task"] == "EROFS"
    code, written = lines["tmp"].split()
    assert code == "ENOSPC" and 10 <= int(written) <= 16
    assert errno.ENOSPC
    await sb.destroy("done")
    assert_gone(sb)


async def test_a_staging_namespace_keeps_no_other_sandboxs_disk(
    backend: BwrapBackend, tmp_path: Path
) -> None:
    # A launcher's namespace starts as a copy of the host's mounts, the /tmp disk of
    # every other sandbox among them: N environments would hold N² mounts. Once its
    # sandbox runs, the copies go; the sandbox's own /tmp (staged) stays.
    script = """
        import os, time
        deadline = time.monotonic() + 30
        while not os.path.exists("/out/go") and time.monotonic() < deadline:
            time.sleep(0.01)
        with open("/tmp/x", "w") as f:
            f.write("written")
        print(open("/tmp/x").read())
    """
    logs, sandboxes = [], []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        log = tmp_path / name / "stdout.txt"
        with open(log, "wb") as f:
            spec = make_spec(tmp_path / name, script, sandbox_id=name, stdout_fd=f.fileno())
            sandboxes.append(await backend.start(spec))
        logs.append(log)
    disks = str(backend._disks.disks_dir.resolve())

    def trimmed() -> bool:
        return all(disks not in Path(f"/proc/{sb.pid}/mountinfo").read_text() for sb in sandboxes)

    await wait_until_async(trimmed, "the staging namespaces to be trimmed")
    for name in ("a", "b"):
        (tmp_path / name / "out" / "go").touch()
    for sb, log in zip(sandboxes, logs, strict=True):
        with anyio.fail_after(30):
            assert (await sb.wait()).returncode == 0
        assert log.read_text() == "written\n"
        await sb.destroy("done")
        assert_gone(sb)


async def test_oom_is_reported(backend: BwrapBackend, tmp_path: Path) -> None:
    status, out, sb = await run(
        backend, tmp_path, "b = bytearray(1 << 30)\nprint('survived')", memory_mb=128
    )
    assert "survived" not in out
    assert status.oom_killed and sb.oom_killed()
    assert status.signal == 9
    await sb.destroy("oom")
    assert_gone(sb)


async def test_fork_bomb_is_contained(backend: BwrapBackend, tmp_path: Path) -> None:
    log = tmp_path / "bomb.txt"
    with open(log, "wb") as f:
        spec = make_spec(
            tmp_path,
            """
            import os, time
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                try:
                    os.fork()
                except OSError:
                    time.sleep(0.01)
            time.sleep(60)
            """,
            pids_max=24,
            stdout_fd=f.fileno(),
            stderr_fd=f.fileno(),
        )
        sb = await backend.start(spec)
    cg = cast(RunningSandbox, sb)._slot.cgroup
    assert cg is not None
    await wait_until_async(lambda: len(cg.pids()) >= 10, "the fork bomb to fork")
    assert len(cg.pids()) <= 24
    assert sb.exit_status() is None
    await sb.destroy("bomb")
    assert_gone(sb)


async def test_freeze_stops_cpu_and_thaw_resumes(backend: BwrapBackend, tmp_path: Path) -> None:
    log = tmp_path / "f.txt"
    with open(log, "wb") as f:
        spec = make_spec(
            tmp_path,
            """
            import os, time
            n = 0
            while True:
                n += 1
                with open("/out/n.tmp", "w") as f:
                    f.write(str(n))
                os.rename("/out/n.tmp", "/out/n")  # atomic: the host never reads a torn file
                time.sleep(0.005)
            """,
            stdout_fd=f.fileno(),
            stderr_fd=f.fileno(),
        )
        sb = await backend.start(spec)
    counter = tmp_path / "out" / "n"

    def read() -> int:
        return int(counter.read_text()) if counter.exists() else 0

    before = await wait_until_async(read, "the sandbox to start counting")
    await sb.freeze()
    frozen_at = read()
    # A frozen cgroup runs nothing: however slow the host, the count cannot move.
    await anyio.sleep(0.2)
    assert read() == frozen_at >= before > 0
    await sb.thaw()
    await wait_until_async(lambda: read() > frozen_at, "the thawed sandbox to count again")
    await sb.freeze()
    await sb.destroy("frozen destroy")  # destroy of a frozen sandbox kills everything
    assert_gone(sb)


async def test_memory_peak(backend: BwrapBackend, tmp_path: Path) -> None:
    status, _, sb = await run(
        backend, tmp_path, "b = bytearray(60 << 20)\nb[::4096] = b'x' * len(b[::4096])"
    )
    assert status.returncode == 0
    assert 60 <= sb.memory_peak_mb() < 128
    sb.reset_memory_peak()
    assert sb.memory_peak_mb() < 60
    await sb.destroy("done")


async def test_a_busy_sandbox_is_throttled_to_its_cpu_share(
    backend: BwrapBackend, tmp_path: Path
) -> None:
    """128 MB: 7% of a core. A busy loop spends its quota (and burst) within a period
    or two, and the kernel's count of throttled periods says so."""
    log = tmp_path / "busy.txt"
    with open(log, "wb") as f:
        spec = make_spec(tmp_path, "while True:\n    pass", stdout_fd=f.fileno())
        sb = await backend.start(spec)
    assert sb.spec.cpus is None and sb.spec.init_cpus is None  # the share of 128 MB
    await wait_until_async(lambda: sb.cpu_throttles() > 0, "the busy sandbox to be throttled")
    await sb.destroy("done")
    assert sb.cpu_throttles() == 0  # gone: nothing to count


async def test_start_takes_a_ready_spare(backend: BwrapBackend, tmp_path: Path) -> None:
    # The point: no mkfs/mount/cgroup move on the start path (bench/ measures how fast).
    ready = backend._pool._ready
    spare = await wait_until_async(lambda: ready[0] if ready else None, "a spare to be made")
    sb = await backend.start(make_spec(tmp_path, "pass"))
    assert cast(RunningSandbox, sb)._slot is spare
    await sb.wait()
    await sb.destroy("done")


async def test_process_backend_runs_with_exact_env(tmp_path: Path) -> None:
    b = ProcessBackend(state_dir=tmp_path / "pstate", spares=0)
    try:
        status, out, sb = await run(b, tmp_path, "", argv=("/usr/bin/env",))
        assert status.returncode == 0
        env = dict(line.split("=", 1) for line in out.splitlines())
        assert env == {"LAMBDA_TASK_ROOT": "/var/task", "ONLY": "this"}
        await sb.destroy("done")
        assert not sb.spec.work_dir.exists()
        status, out, sb = await run(b, tmp_path, "", argv=("/bin/pwd",))
        assert out.strip() == str(tmp_path / "code")  # /var/task mapped to its host source
        await sb.destroy("done")
    finally:
        await b.close()
