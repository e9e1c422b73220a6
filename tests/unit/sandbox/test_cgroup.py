from pathlib import Path

from lambdad.sandbox.cgroup import (
    CPU_PERIOD_US,
    Cgroup,
    CgroupLayout,
    choose_layout,
    compute_limits,
    limit_writes,
    parse_mounts,
)

HYBRID = """\
tmpfs /sys/fs/cgroup tmpfs rw 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/pids cgroup rw,relatime,pids 0 0
cgroup /sys/fs/cgroup/freezer cgroup rw,relatime,freezer 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


def test_parse_hybrid_mounts() -> None:
    v1, v2 = parse_mounts(HYBRID)
    assert v1["memory"] == Path("/sys/fs/cgroup/memory")
    assert set(v1) == {"cpu", "memory", "pids", "freezer"}
    assert v2 == [Path("/sys/fs/cgroup/unified")]


def test_hybrid_with_empty_unified_is_v1() -> None:
    v1, v2 = parse_mounts(HYBRID)
    layout = choose_layout(v1, {v2[0]: ""})
    assert layout is not None and layout.version == 1


def test_pure_v2() -> None:
    layout = choose_layout({}, {Path("/sys/fs/cgroup"): "cpuset cpu io memory pids"})
    assert layout == CgroupLayout(version=2, roots={"": Path("/sys/fs/cgroup")})
    assert choose_layout({}, {}) is None


def test_cpu_in_proportion_to_memory() -> None:
    period = CPU_PERIOD_US
    assert compute_limits(1769, None, 10, 8).cpu_quota_us == period
    assert compute_limits(128, None, 10, 8).cpu_quota_us == round(128 / 1769 * period)
    assert compute_limits(10240, None, 10, 2).cpu_quota_us == 2 * period  # capped at host cores
    assert compute_limits(128, 0.5, 10, 2).cpu_quota_us == period // 2
    assert compute_limits(1, None, 10, 2).cpu_quota_us == 1_000  # floor


def test_limit_writes_v1_order_and_swap_off() -> None:
    w = limit_writes(1, compute_limits(128, None, 64, 2))
    files = [f for _, f, _ in w]
    assert files.index("memory.limit_in_bytes") < files.index("memory.memsw.limit_in_bytes")
    assert ("memory", "memory.memsw.limit_in_bytes", str(128 << 20)) in w
    assert ("pids", "pids.max", "64") in w


def test_limit_writes_v2() -> None:
    w = limit_writes(2, compute_limits(256, 1.0, 64, 2))
    assert ("", "memory.max", str(256 << 20)) in w
    assert ("", "memory.swap.max", "0") in w
    assert ("", "cpu.max", f"{CPU_PERIOD_US} {CPU_PERIOD_US}") in w


def fake_v1(tmp_path: Path) -> CgroupLayout:
    roots = {c: tmp_path / c for c in ("memory", "cpu", "pids", "freezer")}
    for r in roots.values():
        r.mkdir()
    return CgroupLayout(version=1, roots=roots)


def test_group_paths_and_apply_on_fake_cgroupfs(tmp_path: Path) -> None:
    layout = fake_v1(tmp_path)
    cg = Cgroup(layout, "lambdad", "sbx-1")
    assert cg.dirs["memory"] == tmp_path / "memory" / "lambdad" / "sbx-1"
    cg.create()
    # The kernel provides the files; our fake has only the ones we pre-create.
    (cg.dirs["memory"] / "memory.limit_in_bytes").write_text("max")
    (cg.dirs["pids"] / "pids.max").write_text("max")
    cg.apply(compute_limits(128, None, 32, 2))
    assert (cg.dirs["memory"] / "memory.limit_in_bytes").read_text() == str(128 << 20)
    assert (cg.dirs["pids"] / "pids.max").read_text() == "32"
    assert not (cg.dirs["memory"] / "memory.memsw.limit_in_bytes").exists()


def test_oom_count_v1_and_v2(tmp_path: Path) -> None:
    cg = Cgroup(fake_v1(tmp_path), "p", "g")
    cg.create()
    (cg.dirs["memory"] / "memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
    )
    assert cg.oom_kills() == 2
    v2 = Cgroup(CgroupLayout(version=2, roots={"": tmp_path / "u"}), "p", "g")
    v2.dirs[""].mkdir(parents=True)
    (v2.dirs[""] / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert v2.oom_kills() == 1


def test_kill_on_v2_uses_cgroup_kill_which_reaches_frozen_tasks(tmp_path: Path) -> None:
    cg = Cgroup(CgroupLayout(version=2, roots={"": tmp_path / "u"}), "p", "g")
    d = cg.dirs[""]
    d.mkdir(parents=True)
    for name, text in {"cgroup.kill": "", "cgroup.procs": "", "cgroup.freeze": "1"}.items():
        (d / name).write_text(text)
    cg.kill_all()
    assert (d / "cgroup.kill").read_text() == "1"
    assert (d / "cgroup.freeze").read_text() == "1"  # no thaw needed for the kill


def test_kill_on_v1_leaves_a_frozen_group_thawed(tmp_path: Path) -> None:
    # A v1 frozen task acts on its pending SIGKILL only once thawed.
    cg = Cgroup(fake_v1(tmp_path), "p", "g")
    cg.create()
    for d in cg.dirs.values():
        (d / "cgroup.procs").write_text("")
    (cg.dirs["freezer"] / "freezer.state").write_text("FROZEN")
    cg.kill_all()
    assert (cg.dirs["freezer"] / "freezer.state").read_text() == "THAWED"


def test_cpu_throttles_from_cpu_stat_v1_and_v2(tmp_path: Path) -> None:
    stat = "nr_periods 81\nnr_throttled 49\nthrottled_time 1640248191\n"
    v1 = Cgroup(fake_v1(tmp_path), "p", "g")
    v1.create()
    assert v1.cpu_throttles() == 0  # no cpu.stat (no CPU controller): never throttled
    (v1.dirs["cpu"] / "cpu.stat").write_text(stat)
    assert v1.cpu_throttles() == 49
    v2 = Cgroup(CgroupLayout(version=2, roots={"": tmp_path / "u"}), "p", "g")
    v2.dirs[""].mkdir(parents=True)
    # v2's cpu.stat without the cpu controller enabled has only the usage lines.
    (v2.dirs[""] / "cpu.stat").write_text("usage_usec 10\nuser_usec 6\nsystem_usec 4\n")
    assert v2.cpu_throttles() == 0
    (v2.dirs[""] / "cpu.stat").write_text(
        "usage_usec 10\nuser_usec 6\nsystem_usec 4\nnr_periods 9\nnr_throttled 3\n"
        "throttled_usec 270\nnr_bursts 2\nburst_usec 900\n"
    )
    assert v2.cpu_throttles() == 3


def test_v2_cpu_share_and_burst_on_a_fake_cgroupfs(tmp_path: Path) -> None:
    """v2: the quota and period in cpu.max, the burst (saved-up quota an idle group may
    spend at once) in cpu.max.burst, cleared before the quota moves (the kernel refuses
    a burst above the quota), and again when Init's whole core ends."""
    cg = Cgroup(CgroupLayout(version=2, roots={"": tmp_path / "u"}), "p", "g")
    d = cg.dirs[""]
    d.mkdir(parents=True)
    for name in ("memory.max", "memory.swap.max", "cpu.max", "cpu.max.burst", "pids.max"):
        (d / name).write_text("max\n")
    cg.apply(compute_limits(128, 1.0, 32, 2))  # Init: a whole core
    assert (d / "cpu.max").read_text() == f"{CPU_PERIOD_US} {CPU_PERIOD_US}"
    assert (d / "cpu.max.burst").read_text() == str(CPU_PERIOD_US)
    steady = compute_limits(128, None, 32, 2)
    cg.apply_cpu(steady)
    assert (d / "cpu.max").read_text() == f"{steady.cpu_quota_us} {CPU_PERIOD_US}"
    assert (d / "cpu.max.burst").read_text() == str(steady.cpu_quota_us)
    assert (d / "memory.max").read_text() == str(128 << 20)  # apply_cpu: CPU only
    writes = [f for _, f, _ in limit_writes(2, steady) if f.startswith("cpu.")]
    assert writes == ["cpu.max.burst", "cpu.max", "cpu.max.burst"]
