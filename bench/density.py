"""How many warm no-op python environments one host holds, and what each costs.

    .venv/bin/python bench/density.py [--counts 100,1000] [--max 3000] [--floor-mb 6144]
        [--budget-s 1200] [--parallel 4] [--ready | --template]

Starts environments one after another (`--parallel` at a time; `--ready`: parked, then
adopted; `--template`: forked from the version's on-demand template, as a server's cold
starts after the first are, `pool/preinit.py`), invokes each once, and takes a snapshot
at each of `--counts` and at the end of a bounded run towards `--max`. The run stops at
the first limit it meets, and says which: `--max` reached, the host's available memory
below `--floor-mb` (other work shares this host), `--budget-s` spent, the server's fds
near RLIMIT_NOFILE, the host's tasks near kernel.pid_max, or a start that failed (its
error).

Each snapshot reports, per environment (p50 over all of them, from
/proc/PID/smaps_rollup of every process in its cgroup, as smem does): processes and
tasks, USS (Private_Clean + Private_Dirty), PSS, by process role (bwrap outside,
bwrap's pid 1, init, runtime), and the cgroup's memory use; for the server side (this
process holds what a server holds per environment: the environment objects, their
channels and pidfds, the sandbox backend): RSS, USS, fds, threads; and the kernel
objects the environments hold beside the host's limit for each: cgroups, mounts,
loop devices, host uids, namespaces, tasks. The host's MemAvailable drop per
environment is the figure that includes what smaps cannot see (page tables, kernel
stacks, the slab of namespaces and mounts).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio

from lambdad.pool.adoption import ParkedEnvironment
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.pool.preinit import PreInitTemplates
from lambdad.sandbox import select_backend
from lambdad.sandbox.host_ids import BLOCK_SIZE
from lambdad.sandbox.restore import RestoredSandbox

sys.path.insert(0, str(Path(__file__).parent))
from preinit_kit import template_set, version_of
from ready_cold_start import invoke_once
from runtime_cold_start import HELLO, make_spec

MB = 1024


def rollup(pid: int) -> dict[str, int]:
    """kB by field of /proc/PID/smaps_rollup (empty when the process is gone)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, rest = line.partition(":")
            out[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def uss_kb(roll: dict[str, int]) -> int:
    return roll.get("Private_Clean", 0) + roll.get("Private_Dirty", 0)


def status(pid: int | str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            out[name] = rest.strip()
    except OSError:
        pass
    return out


def read_int(path: Path, default: int = 0) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def slab_objects(name: str) -> int:
    """Active objects of a kernel slab cache, host-wide (0 when /proc/slabinfo is closed)."""
    try:
        for line in Path("/proc/slabinfo").read_text().splitlines():
            if line.startswith(name + " "):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / MB
    return 0.0


def role(pid: int, outer: int, forked: bool = False) -> str:
    """Which of an environment's processes `pid` is (`forked`: from a template, whose
    pid 1 runs init's loop and whose `outer` is that pid 1)."""
    if forked:
        return "init" if pid == outer else "runtime"
    if pid == outer:
        return "bwrap"
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "gone"
    if comm == "bwrap":
        return "bwrap_pid1"
    if any(b"/init." in arg or arg.endswith(b"/init.py") for arg in cmdline[:6]):
        return "init"
    return "runtime"


def env_row(env: ExecutionEnvironment) -> dict[str, Any]:
    """One environment's processes and memory (the bench looks inside its sandbox)."""
    sandbox: Any = env._sandbox
    forked = isinstance(sandbox, RestoredSandbox)
    cgroup = sandbox._cgroup if forked else sandbox._slot.cgroup
    return cgroup_row(cgroup, sandbox.pid, forked)


def cgroup_row(cgroup: Any, outer: int, forked: bool = False) -> dict[str, Any]:
    """The processes and memory of one cgroup (an environment's, or a template's)."""
    pids = sorted(cgroup.pids()) if cgroup is not None else [outer]
    by_role: dict[str, float] = {}
    uss = pss = tasks = 0
    uids: set[str] = set()
    for pid in pids:
        roll = rollup(pid)
        name = role(pid, outer, forked)
        by_role[name] = by_role.get(name, 0.0) + uss_kb(roll) / MB
        uss += uss_kb(roll)
        pss += roll.get("Pss", 0)
        st = status(pid)
        tasks += int(st.get("Threads", "1"))
        uids.add(st.get("Uid", "").split("\t")[0])
    usage = 0
    if cgroup is not None:
        memory = cgroup.dirs.get("memory") or cgroup.dirs.get("")
        name = "memory.usage_in_bytes" if "memory" in cgroup.dirs else "memory.current"
        usage = read_int(memory / name) if memory is not None else 0
    return {
        "processes": len(pids),
        "tasks": tasks,
        "uss_mb": uss / MB,
        "pss_mb": pss / MB,
        "cgroup_mb": usage / (1 << 20),
        "roles": by_role,
        "uids": uids,
        "outer": outer,
    }


def fd_kind(target: str) -> str:
    """What one of the server's fds is, from its /proc/self/fd link: `socket`, `pipe`,
    `anon_inode:[pidfd]`, `anon_inode:[eventpoll]`, a cgroup file, a file, ..."""
    if target.startswith(("socket:", "pipe:")):
        return target.partition(":")[0]
    if target.startswith("anon_inode:"):
        return target
    if target.startswith("/sys/fs/cgroup/"):
        return "cgroup file " + target.rsplit("/", 1)[-1]
    if target.startswith("/dev/"):
        return target
    return "file"


def fd_kinds() -> Counter[str]:
    kinds: Counter[str] = Counter()
    for fd in os.listdir("/proc/self/fd"):
        try:
            kinds[fd_kind(os.readlink(f"/proc/self/fd/{fd}"))] += 1
        except OSError:
            continue  # the listing's own fd, closed by now
    return kinds


def server_side() -> dict[str, Any]:
    roll = rollup(os.getpid())
    st = status("self")
    return {
        "rss_mb": round(roll.get("Rss", 0) / MB, 1),
        "uss_mb": round(uss_kb(roll) / MB, 1),
        "fds": len(os.listdir("/proc/self/fd")),
        "fd_kinds": dict(fd_kinds()),
        "threads": int(st.get("Threads", "0")),
    }


def kernel_objects(backend: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the environments hold of each kernel object, beside the host's limit."""
    maker = backend._pool.maker
    groups = 0
    if maker.layout is not None:
        for root in maker.layout.roots.values():
            parent = root / maker.cgroup_parent
            groups += sum(1 for p in parent.iterdir() if p.is_dir()) if parent.is_dir() else 0
    state = str(backend.state_dir)
    mounts = sum(state in line for line in Path("/proc/self/mountinfo").read_text().splitlines())
    loops = 0
    for block in Path("/sys/block").glob("loop*"):
        try:
            loops += (block / "loop" / "backing_file").read_text().startswith(state)
        except OSError:
            continue
    # Each environment's outer bwrap lives in the mount namespace its launcher made
    # for staging: a copy of the host's mount table as it was then (sampled: reading
    # every one is quadratic).
    outers = [r["outer"] for r in rows]
    sample = outers[:: max(1, len(outers) // 50)]
    copies = [sum(1 for _ in Path(f"/proc/{pid}/mountinfo").open()) for pid in sample]
    tasks_all = sum(r["tasks"] for r in rows)
    host_tasks = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())
    uids = len(set().union(*(r["uids"] for r in rows))) if rows else 0
    return {
        "cgroups": groups,
        "host_mounts": mounts,
        "launcher_ns_mounts_mean": round(statistics.mean(copies), 1) if copies else 0,
        "launcher_ns_mounts_total_est": round(statistics.mean(copies) * len(rows)) if copies else 0,
        "mnt_cache_objects_host": slab_objects("mnt_cache"),
        "loop_devices": loops,
        "host_uids": uids,
        "host_uids_limit": BLOCK_SIZE,
        "env_tasks": tasks_all,
        "host_processes": host_tasks,
        "pid_max": read_int(Path("/proc/sys/kernel/pid_max")),
        "user_namespaces_limit": read_int(Path("/proc/sys/user/max_user_namespaces")),
        "mount_max": read_int(Path("/proc/sys/fs/mount-max")),
        "file_nr": read_int(Path("/proc/sys/fs/file-nr")),
        "nofile_soft": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def snapshot(
    backend: Any,
    envs: list[ExecutionEnvironment],
    available_before: float,
    base: dict[str, Any],
    templates: PreInitTemplates | None = None,
) -> dict[str, Any]:
    rows = [env_row(e) for e in envs]
    template = None
    kept = [] if templates is None else list(templates._templates.values())
    for one in kept[:1]:
        sandbox: Any = one.environment.sandbox
        found = cgroup_row(sandbox._slot.cgroup, sandbox.pid)
        template = {k: found[k] for k in ("processes", "uss_mb", "pss_mb", "cgroup_mb")}
        template["templates"] = len(kept)
    n = len(rows)

    def med(key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 2)

    roles: Counter[str] = Counter()
    for r in rows:
        roles.update(r["roles"])
    server = server_side()
    return {
        "environments": n,
        "processes_each": med("processes"),
        "tasks_each": med("tasks"),
        "uss_mb_each_p50": med("uss_mb"),
        "pss_mb_each_p50": med("pss_mb"),
        "uss_mb_by_role_mean": {k: round(v / n, 2) for k, v in sorted(roles.items())},
        "cgroup_mb_each_p50": med("cgroup_mb"),
        "host_mem_available_drop_mb_each": round((available_before - mem_available_mb()) / n, 2),
        "server": server,
        "server_per_env": {
            "rss_kb": round((server["rss_mb"] - base["rss_mb"]) * MB / n, 1),
            "fds": round((server["fds"] - base["fds"]) / n, 2),
            "fds_by_kind": {
                kind: round((count - base["fd_kinds"].get(kind, 0)) / n, 2)
                for kind, count in sorted(server["fd_kinds"].items())
            },
        },
        "kernel": kernel_objects(backend, rows),
        "template": template,
    }


def limit_hit(floor_mb: float, deadline: float, budget_s: float, pid_max: int) -> str | None:
    """Why the run must stop growing now (None: it may go on)."""
    available = mem_available_mb()
    if available < floor_mb:
        return f"host MemAvailable {available:.0f} MB < floor {floor_mb:.0f} MB"
    if time.monotonic() > deadline:
        return f"time budget of {budget_s:.0f} s spent"
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    fds = len(os.listdir("/proc/self/fd"))
    if fds > 0.9 * soft:
        return f"server fds {fds} near RLIMIT_NOFILE {soft}"
    tasks = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())
    if tasks > 0.9 * pid_max:
        return f"host processes {tasks} near kernel.pid_max {pid_max}"
    return None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    backend: Any = select_backend("bwrap", spares=args.parallel)
    root = Path(tempfile.mkdtemp(prefix="lambdad-bench-"))
    root.chmod(0o755)
    # Init and the bootstrap run precompiled, as a server runs them (compiling init.py
    # from source at every start leaves ~3 MB more heap in each of them).
    bytecode = root / "bytecode"
    envs: list[ExecutionEnvironment] = []
    snapshots: list[dict[str, Any]] = []
    counts = sorted({*args.counts, args.max})
    pid_max = read_int(Path("/proc/sys/kernel/pid_max"), 32768)
    available_before = mem_available_mb()
    base = server_side()
    started = time.monotonic()
    deadline = started + args.budget_s
    stopped = f"--max {args.max} reached"
    next_id = 0
    failure: list[str] = []

    # Lambda's 10 s is for one function; here a busy host may slow a start past it.
    timeout = {"init_timeout_s": args.init_timeout_s}
    templates = None
    if args.template:
        templates = template_set(backend, root, 128, bytecode_dir=bytecode)
        await templates._template(version_of())  # made before the first start

    async def start_one(i: int) -> None:
        spec = replace(make_spec(root, i, 128, HELLO), bytecode_dir=bytecode)
        try:
            if args.ready:
                parked = replace(
                    make_spec(root, 1_000_000 + i, 128, HELLO), handler="", bytecode_dir=bytecode
                )
                env = await ParkedEnvironment.park(parked, backend)
                if await env.adopt(spec) is not None:
                    raise RuntimeError("adopt refused")
            elif templates is not None:
                forked = await templates.start(version_of(), spec, None)
                if forked is None:  # its template is full: the next one (as `want` would)
                    await templates._template(version_of())
                    forked = await templates.start(version_of(), spec, None)
                if forked is None:
                    raise RuntimeError("the fork failed")
                env = forked
            else:
                env = await ExecutionEnvironment.start(spec, backend, **timeout)
            if env.init_error is not None:
                await env.destroy("bench")
                raise RuntimeError(f"init error: {env.init_error.payload[:200]!r}")
            await invoke_once(env)
            envs.append(env)
        except Exception as e:
            failure.append(f"start {i} failed: {type(e).__name__}: {e}"[:300])

    try:
        for target in counts:
            while len(envs) < target and len(failure) <= args.max_failures:
                why = limit_hit(args.floor_mb, deadline, args.budget_s, pid_max)
                if why is not None:
                    stopped = why
                    break
                batch = min(args.parallel, target - len(envs))
                async with anyio.create_task_group() as tg:
                    for _ in range(batch):
                        tg.start_soon(start_one, next_id)
                        next_id += 1
            if len(failure) > args.max_failures:
                stopped = f"{len(failure)} starts failed, the last: {failure[-1]}"
            if envs:
                shot = snapshot(backend, envs, available_before, base, templates)
                shot["elapsed_s"] = round(time.monotonic() - started, 1)
                snapshots.append(shot)
                print(json.dumps(shot), file=sys.stderr, flush=True)
            if len(envs) < target:
                break
    finally:
        with anyio.CancelScope(shield=True):
            for env in envs:
                await env.destroy("bench")
            if templates is not None:
                await templates.close()
            await backend.close()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "ready": args.ready,
        "template": args.template,
        "stopped_because": stopped,
        "failed_starts": failure,
        "host_mem_available_mb_at_start": round(available_before),
        "server_before": base,
        "snapshots": snapshots,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--counts", default="100,1000", help="snapshot at these counts")
    ap.add_argument("--max", type=int, default=3000, help="grow towards this many at most")
    ap.add_argument("--floor-mb", type=float, default=6144, help="stop below this MemAvailable")
    ap.add_argument("--budget-s", type=float, default=1200, help="stop growing after this")
    ap.add_argument("--parallel", type=int, default=4, help="starts at a time")
    ap.add_argument("--ready", action="store_true", help="park, then adopt each")
    ap.add_argument("--template", action="store_true", help="fork each from a template")
    ap.add_argument(
        "--max-failures", type=int, default=5, help="failed starts tolerated (a busy host)"
    )
    ap.add_argument("--init-timeout-s", type=float, default=60, help="Init's limit per start")
    args = ap.parse_args()
    args.counts = [int(c) for c in args.counts.split(",") if c]
    json.dump(anyio.run(run, args), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
