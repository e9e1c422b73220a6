"""Which host interpreter runs a Lambda runtime id, and what must be mounted for it.

Built-in runtimes run on interpreters installed on this host: the server's own
Python (always present, it also runs the in-sandbox init), other `python3.N`
binaries found on the search path (pyenv shims are followed to the real
binaries: a shim is a shell script costing ~100 ms per start), and `node`.
A runtime id whose exact version is missing runs on the nearest one, unless
the environment is strict.

A sandbox that sees the host's own files as another uid (the "process"
backend run as root) can only run interpreters every user may run: a pyenv
under a mode-700 home is out of its reach. `InterpreterCatalog.for_other_users`
picks those, e.g. the system's /usr/bin/python3.N behind the server's own.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SYSTEM_PREFIXES = ("/usr", "/bin", "/lib", "/lib64", "/sbin")
"""Dirs every sandbox already sees; an interpreter under them needs no extra mount."""

_PYTHON_NAME = re.compile(r"^python3\.(\d+)$")
_PYTHON_RUNTIME = re.compile(r"^python3\.(\d+)$")
_NODE_RUNTIME = re.compile(r"^nodejs(\d+)\.x$")


@dataclass(frozen=True)
class Interpreter:
    family: str
    """"python" or "node"."""
    version: tuple[int, ...]
    """(3, 12) for python, (20,) for node."""
    executable: Path
    """Real (symlink-free) path; the same path inside the sandbox."""
    prefix: Path
    """Install tree to mount read-only at the same path (unless under a system dir)."""

    @property
    def needs_mount(self) -> bool:
        return not any(
            self.prefix == Path(p) or self.prefix.is_relative_to(p) for p in SYSTEM_PREFIXES
        )

    def usable_by_others(self) -> bool:
        """Whether a user who is neither owner nor group member can run it (stats the path)."""
        return _world_reachable(self.executable, 0o005) and _world_reachable(self.prefix, 0o005)


def _world_reachable(path: Path, bits: int) -> bool:
    """`path` has the "other" permission `bits`, and every dir above it is searchable by others."""
    try:
        if os.stat(path).st_mode & bits != bits:
            return False
        return all(os.stat(parent).st_mode & stat.S_IXOTH for parent in path.parents)
    except OSError:
        return False


@dataclass(frozen=True)
class RuntimeChoice:
    """The outcome of matching a runtime id against what is installed."""

    family: str
    """"python", "node" or "provided"."""
    requested: str
    """The version the runtime id names ("3.12", "20"), "" for provided."""
    interpreter: Interpreter | None
    notice: str | None = None
    """A line for the function's log when running on a different version."""
    error: str | None = None
    """Why this runtime cannot run here (unknown id, nothing installed, strict mismatch)."""


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _python_search_dirs(search_path: str) -> list[Path]:
    dirs: list[Path] = []
    for entry in search_path.split(os.pathsep):
        if not entry:
            continue
        d = Path(entry)
        dirs.append(d)
        # pyenv-style shims: the real binaries sit in <root>/versions/*/bin.
        if d.name == "shims" and (d.parent / "versions").is_dir():
            dirs.extend(sorted((d.parent / "versions").glob("*/bin")))
    return dirs


def server_python() -> Interpreter:
    """The interpreter running this server (not a venv wrapper): it runs every sandbox's init."""
    exe = Path(os.path.realpath(sys.executable))
    return Interpreter("python", sys.version_info[:2], exe, Path(sys.base_prefix))


def discover_pythons(search_path: str) -> list[Interpreter]:
    """Real `python3.N` binaries on `search_path`, one per version (the server's own for its)."""
    found: dict[tuple[int, ...], Interpreter] = {}
    for interp in _python_candidates(search_path):
        found.setdefault(interp.version, interp)
    return sorted(found.values(), key=lambda i: i.version)


def _python_candidates(search_path: str) -> list[Interpreter]:
    """Every distinct real `python3.N` binary on `search_path`, the server's own first."""
    own = server_python()
    found: dict[Path, Interpreter] = {own.executable: own}
    for d in _python_search_dirs(search_path):
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        for name in names:
            m = _PYTHON_NAME.match(name)
            if not m:
                continue
            version = (3, int(m.group(1)))
            exe = Path(os.path.realpath(d / name))
            if exe in found or not _is_elf(exe):
                continue
            found[exe] = Interpreter("python", version, exe, exe.parent.parent)
    return list(found.values())


def discover_node(search_path: str) -> list[Interpreter]:
    which = shutil.which("node", path=search_path)
    if not which:
        return []
    exe = Path(os.path.realpath(which))
    try:
        out = subprocess.run(
            [str(exe), "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    m = re.match(r"v(\d+)", out.strip())
    if not m:
        return []
    return [Interpreter("node", (int(m.group(1)),), exe, exe.parent.parent)]


@dataclass(frozen=True)
class InterpreterCatalog:
    """What is installed on this host; built once (it runs `node --version`)."""

    pythons: tuple[Interpreter, ...]
    nodes: tuple[Interpreter, ...]
    shadowed: tuple[Interpreter, ...] = ()
    """Other installs of versions `pythons` already has (e.g. /usr/bin/python3.11 behind
    the server's own 3.11): used when the preferred one is out of a sandbox's reach."""
    init_python: Interpreter | None = None
    """What runs the in-sandbox init; None: the server's own Python."""

    @classmethod
    def discover(cls, search_path: str | None = None) -> InterpreterCatalog:
        path = os.pathsep.join(os.get_exec_path()) if search_path is None else search_path
        candidates = _python_candidates(path)
        pythons = discover_pythons(path)
        shadowed = tuple(c for c in candidates if c not in pythons)
        return cls(tuple(pythons), tuple(discover_node(path)), shadowed)

    def for_other_users(self) -> InterpreterCatalog:
        """The interpreters a sandbox running as another uid on the host's files can run:
        per version the first usable install, and an init Python among them (the server's
        own minor version first, for its precompiled init; init needs 3.9+)."""
        pythons: dict[tuple[int, ...], Interpreter] = {}
        for interp in (*self.pythons, *self.shadowed):
            if interp.version not in pythons and interp.usable_by_others():
                pythons[interp.version] = interp
        own = server_python()
        inits = sorted(
            (i for i in pythons.values() if i.version >= (3, 9)),
            key=lambda i: (i.executable != own.executable, i.version != own.version, -i.version[1]),
        )
        return InterpreterCatalog(
            tuple(sorted(pythons.values(), key=lambda i: i.version)),
            tuple(n for n in self.nodes if n.usable_by_others()),
            init_python=inits[0] if inits else None,
        )

    def choose(self, runtime: str, *, strict: bool = False) -> RuntimeChoice:
        if runtime.startswith("provided"):
            return RuntimeChoice("provided", "", None)
        if m := _PYTHON_RUNTIME.match(runtime):
            return _nearest("python", (3, int(m.group(1))), self.pythons, runtime, strict)
        if m := _NODE_RUNTIME.match(runtime):
            return _nearest("node", (int(m.group(1)),), self.nodes, runtime, strict)
        return RuntimeChoice("", "", None, error=f"Runtime {runtime} is not supported")


@functools.cache
def default_catalog() -> InterpreterCatalog:
    return InterpreterCatalog.discover()


def _nearest(
    family: str,
    wanted: tuple[int, ...],
    installed: tuple[Interpreter, ...],
    runtime: str,
    strict: bool,
) -> RuntimeChoice:
    requested = ".".join(map(str, wanted))
    if not installed:
        return RuntimeChoice(
            family, requested, None, error=f"No {family} is installed on this host"
        )
    # Distance on the last version component; ties go to the newer interpreter.
    best = min(installed, key=lambda i: (abs(i.version[-1] - wanted[-1]), -i.version[-1]))
    if best.version == wanted:
        return RuntimeChoice(family, requested, best)
    have = ".".join(map(str, best.version))
    if strict:
        return RuntimeChoice(
            family,
            requested,
            None,
            error=f"Runtime {runtime} is not installed on this host (nearest: {family} {have})",
        )
    notice = (
        f"lambdad: runtime {runtime} is not installed on this host; "
        f"running on {family} {have} ({best.executable})"
    )
    return RuntimeChoice(family, requested, best, notice=notice)
