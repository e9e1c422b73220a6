from pathlib import Path

from lambdad.sandbox.base import ChildRoot, Mount, SandboxSpec
from lambdad.sandbox.bwrap import (
    BwrapOptions,
    HostLayout,
    build_bwrap_argv,
    etc_files,
    late_points,
    plan_staging,
)


def spec(**kw: object) -> SandboxSpec:
    base: dict[str, object] = dict(
        sandbox_id="s1",
        argv=("/var/runtime/bootstrap", "--x"),
        env={"A": "1", "B": "two words"},
        mounts=(
            Mount(Path("/srv/layers/l1"), "/opt/l1"),
            Mount(Path("/srv/code"), "/var/task"),
            Mount(Path("/srv/layers"), "/opt"),
            Mount(Path("/srv/sock"), "/run/sock", writable=True),
        ),
        memory_mb=128,
        ephemeral_storage_mb=512,
        work_dir=Path("/w"),
    )
    base.update(kw)
    return SandboxSpec(**base)  # type: ignore[arg-type]


LAYOUT = HostLayout(
    system={"usr": None, "bin": "usr/bin", "lib": "usr/lib"}, etc_binds=("ssl/certs",)
)


def argv(s: SandboxSpec) -> list[str]:
    return build_bwrap_argv(
        s, bwrap="/b/bwrap", layout=LAYOUT, etc_dir=Path("/st/etc"), tmp_dir=Path("/st/tmp")
    )


def pairs(a: list[str], flag: str, n: int) -> list[tuple[str, ...]]:
    return [tuple(a[i + 1 : i + 1 + n]) for i, x in enumerate(a) if x == flag]


def test_namespaces_and_privileges() -> None:
    a = argv(spec())
    assert a[0] == "/b/bwrap"
    for flag in ("--unshare-all", "--die-with-parent", "--new-session", "--clearenv"):
        assert flag in a
    assert "--share-net" not in a
    assert pairs(a, "--cap-drop", 1) == [("ALL",)]
    assert pairs(a, "--uid", 1) == [("993",)] and pairs(a, "--gid", 1) == [("990",)]


def test_an_init_that_reaps_runs_as_pid_1() -> None:
    # bwrap's own reaper is one process more per sandbox; an init that reaps needs none.
    assert "--as-pid-1" not in argv(spec())
    assert "--as-pid-1" in argv(spec(init_reaps=True))


def test_host_network_shares_net() -> None:
    assert "--share-net" in argv(spec(network="host"))


def test_a_network_the_launcher_made_is_shared() -> None:
    # The launcher moved to a new network namespace for the forwards: bwrap keeps it.
    a = build_bwrap_argv(
        spec(), bwrap="/b/bwrap", layout=LAYOUT, etc_dir=Path("/e"), tmp_dir=Path("/t"),
        own_netns=True,
    )  # fmt: skip
    assert "--share-net" in a


def test_env_is_exactly_the_spec() -> None:
    assert pairs(argv(spec()), "--setenv", 2) == [("A", "1"), ("B", "two words")]


def test_root_is_system_dirs_and_synthesized_etc() -> None:
    a = argv(spec())
    ro = pairs(a, "--ro-bind", 2)
    assert ("/usr", "/usr") in ro
    assert ("/st/etc", "/etc") in ro
    assert ("/etc/ssl/certs", "/etc/ssl/certs") in ro
    assert ("/etc", "/etc") not in ro and ("/", "/") not in ro
    assert pairs(a, "--symlink", 2) == [("usr/bin", "/bin"), ("usr/lib", "/lib")]
    assert ("/st/tmp", "/tmp") in pairs(a, "--bind", 2)
    assert pairs(a, "--proc", 1) == [("/proc",)] and pairs(a, "--dev", 1) == [("/dev",)]
    assert pairs(a, "--remount-ro", 1) == [("/proc",)]
    assert "--disable-userns" in a and "--unshare-user" in a


def test_mounts_parents_first_and_modes() -> None:
    a = argv(spec())
    ro = pairs(a, "--ro-bind", 2)
    assert ro.index(("/srv/layers", "/opt")) < ro.index(("/srv/layers/l1", "/opt/l1"))
    assert ("/srv/code", "/var/task") in ro
    assert ("/srv/sock", "/run/sock") in pairs(a, "--bind", 2)


def test_command_comes_last_after_separator() -> None:
    a = argv(spec(cwd="/var/task"))
    assert a[-3:] == ["--", "/var/runtime/bootstrap", "--x"]
    assert pairs(a, "--chdir", 1) == [("/var/task",)]


def test_hostname_option() -> None:
    a = build_bwrap_argv(
        spec(),
        bwrap="bwrap",
        layout=LAYOUT,
        etc_dir=Path("/e"),
        tmp_dir=Path("/t"),
        options=BwrapOptions(hostname="h1"),
    )
    assert pairs(a, "--hostname", 1) == [("h1",)]


def test_etc_has_sandbox_user() -> None:
    files = etc_files(993, 990, "h")
    assert ":993:990:" in files["passwd"]
    assert ":990:" in files["group"]
    assert "shadow" not in files


def test_staging_overlays_read_only_sources_and_binds_writable_ones() -> None:
    staging = plan_staging(spec(), Path("/st/etc"), Path("/st/tmp"), Path("/stage"))
    staged = dict(staging.binds)
    assert list(staged.values()) == [Path(f"/stage/{i}") for i in range(len(staged))]
    assert staging.read_only == {
        staged[Path("/st/etc")],
        staged[Path("/srv/layers/l1")],
        staged[Path("/srv/code")],
        staged[Path("/srv/layers")],
    }
    # /tmp is its own disk's root and /run/sock is writable: plain binds.
    assert staged[Path("/st/tmp")] not in staging.read_only
    assert staged[Path("/srv/sock")] not in staging.read_only


def test_late_mounts_are_staged_shared_points_bound_read_only() -> None:
    s = spec(mounts=(Mount(Path("/srv/rt"), "/var/runtime"),), late_mounts=("/var/task", "/opt"))
    root = Path("/stage")
    staging = plan_staging(s, Path("/st/etc"), Path("/st/tmp"), root)
    assert staging.late == (root / "late0", root / "late1")
    a = build_bwrap_argv(
        s, bwrap="/b/bwrap", layout=LAYOUT, etc_dir=Path("/st/etc"), tmp_dir=Path("/st/tmp"),
        staged=dict(staging.binds), late=late_points(s, root),
    )  # fmt: skip
    binds = pairs(a, "--ro-bind", 2)
    assert ("/stage/late0", "/var/task") in binds and ("/stage/late1", "/opt") in binds
    # /opt (a parent) before /var/... and every late point read-only.
    assert binds.index(("/stage/late1", "/opt")) < binds.index(("/stage/late0", "/var/task"))
    assert not any(p[0].startswith("/stage/late") for p in pairs(a, "--bind", 2))


def test_child_root_is_assembled_read_only_with_its_own_proc_dev_and_tmp() -> None:
    child = ChildRoot("/.img", symlinks=(("usr/bin", "bin"),))
    a = argv(spec(mounts=(Mount(Path("/r/usr"), "/.img/usr"),), child_root=child))
    assert pairs(a, "--cap-add", 1) == [("CAP_SYS_CHROOT",)]
    assert a.index("--cap-drop") < a.index("--cap-add")  # only that one is left
    order = [a.index(x) for x in ("--tmpfs", "/r/usr", "/.img/proc", "/.img/dev")]
    assert order == sorted(order)  # the root's tmpfs first, its entries, then the rest
    assert ("/st/tmp", "/.img/tmp") in pairs(a, "--bind", 2)
    assert ("/st/tmp", "/tmp") not in pairs(a, "--bind", 2)  # init has no /tmp to share
    assert ("usr/bin", "/.img/bin") in pairs(a, "--symlink", 2)
    assert pairs(a, "--remount-ro", 1)[-1] == ("/.img",)
    assert a.index("/.img/bin") < len(a) - a[::-1].index("--remount-ro")


def test_without_child_root_nothing_may_chroot() -> None:
    a = argv(spec())
    assert "--cap-add" not in a and "--tmpfs" not in a


def test_an_image_root_gets_the_sandboxs_resolver_over_its_own() -> None:
    child = ChildRoot("/.img", resolv_conf=True)
    a = argv(spec(mounts=(Mount(Path("/r/etc"), "/.img/etc"),), child_root=child))
    bind = ("/st/etc/resolv.conf", "/.img/etc/resolv.conf")
    assert bind in pairs(a, "--ro-bind-try", 2)
    assert a.index("/r/etc") < a.index(bind[0]) < a.index("/.img/proc")  # over the image's
    plain = argv(spec(mounts=(Mount(Path("/r/etc"), "/.img/etc"),), child_root=ChildRoot("/.img")))
    assert "--ro-bind-try" not in plain  # no mount point to bind over: the image's stays


def test_a_snapstart_template_keeps_only_what_forking_environments_needs() -> None:
    a = argv(spec(template=True))
    assert pairs(a, "--cap-add", 1) == [("CAP_SYS_ADMIN",), ("CAP_NET_ADMIN",)]
    assert a.index("--cap-drop") < a.index("--cap-add")
    assert "--disable-userns" in a  # never a nested user namespace
