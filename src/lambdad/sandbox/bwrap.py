"""The bubblewrap command line for a sandbox: a pure plan, built from facts about the host.

`probe_host()` and `write_etc()` do the I/O (once per backend);
`build_bwrap_argv()` is pure and unit-tested.

The sandbox sees: the host's system dirs read-only (/usr, /lib*, /bin, /sbin,
as dirs or the same symlinks as on the host), a synthesized minimal /etc
(never the host's), a new /proc, a minimal /dev, a private /tmp, and the
spec's mounts. It runs in new user, pid, mount, ipc, uts, cgroup and (unless
`network == "host"`) network namespaces, as the spec's uid/gid with no
capabilities and no_new_privs.

Note on uids: where the host allows unprivileged user namespaces, bwrap runs
as an unprivileged host uid per sandbox (`host_ids.py`), so its uid is no one on the
host; its private sources are staged first (`plan_staging`) because that uid
could not traverse their parents. Elsewhere bwrap runs as root and the
sandbox's uid maps to host uid 0 *without any capability*; /proc read-only and
the seccomp filter cover what uid 0 alone would still reach.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from lambdad.sandbox.base import ChildRoot, SandboxSpec
from lambdad.sandbox.launcher import Staging

SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32")
# Host /etc entries the sandbox gets read-only, on top of the synthesized /etc:
# CA certificates (their targets live under /usr) and the alternatives symlinks
# some /usr/bin entries go through. Never /etc/ssl/private.
ETC_BINDS = ("ssl/certs", "ca-certificates", "alternatives", "pki/tls/certs")
ETC_COPIES = ("ld.so.cache", "nsswitch.conf", "localtime", "resolv.conf", "ssl/openssl.cnf")
DEFAULT_HOSTNAME = "169.254.100.1"
SANDBOX_USER = "sbx_user1051"


@dataclass(frozen=True)
class HostLayout:
    """What the host's root looks like: system dir -> symlink target, or None for a real dir."""

    system: Mapping[str, str | None]
    etc_binds: tuple[str, ...] = ()


@dataclass(frozen=True)
class BwrapOptions:
    hostname: str = DEFAULT_HOSTNAME
    extra_args: tuple[str, ...] = field(default=())


def probe_host(root: Path = Path("/")) -> HostLayout:
    system: dict[str, str | None] = {}
    for name in SYSTEM_DIRS:
        p = root / name
        if p.is_symlink():
            system[name] = os.readlink(p)
        elif p.is_dir():
            system[name] = None
    binds = tuple(e for e in ETC_BINDS if (root / "etc" / e).is_dir())
    return HostLayout(system=system, etc_binds=binds)


def etc_files(uid: int, gid: int, hostname: str) -> dict[str, str]:
    """The synthesized text files of the sandbox's /etc."""
    return {
        "passwd": (
            "root:x:0:0:root:/root:/sbin/nologin\n"
            f"{SANDBOX_USER}:x:{uid}:{gid}::/tmp:/sbin/nologin\n"
            "nobody:x:65534:65534:nobody:/:/sbin/nologin\n"
        ),
        "group": f"root:x:0:\n{SANDBOX_USER}:x:{gid}:\nnobody:x:65534:\n",
        "hosts": f"127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\t{hostname}\n",
        "hostname": f"{hostname}\n",
    }


def write_etc(
    dest: Path,
    uid: int,
    gid: int,
    hostname: str,
    host_root: Path = Path("/"),
    resolv_conf: str | None = None,
) -> Path:
    """Materialize the sandbox's /etc in `dest` (blocking). Returns `dest`.
    `resolv_conf`: its resolv.conf (None: a copy of the host's)."""
    dest.mkdir(parents=True, exist_ok=True)
    files = etc_files(uid, gid, hostname)
    if resolv_conf is not None:
        files["resolv.conf"] = resolv_conf
    for name, text in files.items():
        (dest / name).write_text(text)
    for name in ETC_COPIES:
        if name in files:
            continue
        src = host_root / "etc" / name
        if src.is_file():  # follows symlinks: localtime -> /usr/share/zoneinfo/...
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest / name)
    if not (dest / "nsswitch.conf").exists():
        (dest / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files dns\n")
    for name in ETC_BINDS:
        if (host_root / "etc" / name).is_dir():
            (dest / name).mkdir(parents=True, exist_ok=True)  # mount points for the binds
    dest.chmod(0o755)
    return dest


def build_bwrap_argv(
    spec: SandboxSpec,
    *,
    bwrap: str,
    layout: HostLayout,
    etc_dir: Path,
    tmp_dir: Path,
    options: BwrapOptions | None = None,
    seccomp_fd: int | None = None,
    staged: Mapping[Path, Path] | None = None,
    own_netns: bool = False,
    late: Mapping[str, Path] | None = None,
) -> list[str]:
    """The full bwrap command that runs `spec.argv` in a new sandbox.

    `staged` maps host sources to the paths they are staged at (see
    `plan_staging`); bwrap then binds from there. `own_netns`: the launcher
    already moved to a new network namespace (for `spec.forwards`): share it.
    `late` maps each of `spec.late_mounts` to its staged (empty, shared) mount point.
    """
    opts = options or BwrapOptions()
    moved = staged or {}

    def source(path: Path) -> str:
        return str(moved.get(path, path))

    # --disable-userns: no nested user namespaces, in which a function could
    # regain capabilities and reach more of the kernel.
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns"]
    if spec.network == "host" or own_netns:
        argv.append("--share-net")
    if spec.init_reaps:
        # No pid 1 of bwrap's: init is the namespace's reaper (and, as its pid 1, gets
        # no signal from inside that it has no handler for, SIGKILL included).
        argv.append("--as-pid-1")
    argv += [
        "--die-with-parent",
        "--new-session",
        "--uid", str(spec.uid),
        "--gid", str(spec.gid),
        "--hostname", opts.hostname,
        "--cap-drop", "ALL",
        "--clearenv",
    ]  # fmt: skip
    child = spec.child_root
    if child is not None:
        # Init alone uses it (to start the function in its image's root); init clears
        # it from the function's ambient set, so the function runs without it.
        argv += ["--cap-add", "CAP_SYS_CHROOT"]
    if spec.template:
        # A SnapStart template forks each environment into namespaces of its own
        # (`restore.py`); the children drop both before any of the function's code runs.
        argv += ["--cap-add", "CAP_SYS_ADMIN", "--cap-add", "CAP_NET_ADMIN"]
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    for key, value in spec.env.items():
        argv += ["--setenv", key, value]
    for name, target in layout.system.items():
        if target is None:
            argv += ["--ro-bind", f"/{name}", f"/{name}"]
        else:
            argv += ["--symlink", target, f"/{name}"]
    argv += ["--ro-bind", source(etc_dir), "/etc"]
    for name in layout.etc_binds:
        argv += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
    # /proc read-only: the sandbox's uid is root's on the host (bwrap runs as
    # root), and bwrap leaves /proc/sys writable when its directory is not, so a
    # function could otherwise write host-wide sysctls such as vm.drop_caches.
    argv += ["--proc", "/proc", "--remount-ro", "/proc"]
    argv += ["--dev", "/dev"]
    if child is not None:
        # A tmpfs of its own, so mount points exist whatever the image has.
        argv += ["--tmpfs", child.path]
    argv += ["--bind", source(tmp_dir), "/tmp" if child is None else f"{child.path}/tmp"]
    # Parents before children, so /opt/x is mounted over /opt rather than hidden by it.
    binds = [(m.target, m.writable, source(m.source)) for m in spec.mounts]
    binds += [(target, False, str(point)) for target, point in (late or {}).items()]
    for target, writable, src in sorted(binds, key=lambda b: b[0].rstrip("/").count("/")):
        argv += ["--bind" if writable else "--ro-bind", src, target]
    if child is not None:
        if child.resolv_conf:  # the resolver of the sandbox's network mode, not the image's
            resolv = f"{source(etc_dir)}/resolv.conf"  # -try: a host may have none to copy
            argv += ["--ro-bind-try", resolv, f"{child.path}/etc/resolv.conf"]
        argv += child_root_args(child)
    argv += ["--chdir", spec.cwd, *opts.extra_args, "--", *spec.argv]
    return argv


def child_root_args(child: ChildRoot) -> list[str]:
    """What completes a child root once its entries are mounted: /proc (read-only, as
    init's), /dev, its top-level symlinks, then the whole root read-only."""
    root = child.path
    argv = ["--proc", f"{root}/proc", "--remount-ro", f"{root}/proc", "--dev", f"{root}/dev"]
    for target, name in child.symlinks:
        argv += ["--symlink", target, f"{root}/{name}"]
    return [*argv, "--remount-ro", root]


def plan_staging(spec: SandboxSpec, etc_dir: Path, tmp_dir: Path, root: Path) -> Staging:
    """Where each private source is staged for an unprivileged bwrap: root/0, root/1, …

    Read-only sources are staged as overlays, which hide their host paths from the
    sandbox's mountinfo; /tmp (the root of its own disk: nothing to hide) and
    writable mounts stay binds."""
    sources = [etc_dir, tmp_dir, *(m.source for m in spec.mounts)]
    unique = list(dict.fromkeys(sources))
    staged = {src: root / str(i) for i, src in enumerate(unique)}
    writable = {tmp_dir, *(m.source for m in spec.mounts if m.writable)}
    return Staging(
        root=root,
        binds=tuple(staged.items()),
        read_only=frozenset(dst for src, dst in staged.items() if src not in writable),
        late=tuple(late_points(spec, root).values()),
    )


def late_points(spec: SandboxSpec, root: Path) -> dict[str, Path]:
    """Where each of `spec.late_mounts` is staged: root/late0, root/late1, …"""
    return {target: root / f"late{i}" for i, target in enumerate(spec.late_mounts)}
