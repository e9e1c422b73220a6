"""Which host interpreter runs a Lambda runtime id, and what must be mounted for it.

Built-in runtimes run on interpreters installed on this host: the server's own
Python (always present, it also runs the in-sandbox init), other `python3.N`
binaries found on the search path (pyenv shims are followed to the real
binaries: a shim is a shell script costing ~100 ms per start), and `node`.
A runtime id whose exact version is missing runs on the nearest one, unless
the environment is strict.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
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
    """Real `python3.N` binaries on `search_path`, the server's own first."""
    found: dict[tuple[int, ...], Interpreter] = {}
    own = server_python()
    found[own.version] = own
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
            if version in found:
                continue
            exe = Path(os.path.realpath(d / name))
            if not _is_elf(exe):
                continue
            found[version] = Interpreter("python", version, exe, exe.parent.parent)
    return sorted(found.values(), key=lambda i: i.version)


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

    @classmethod
    def discover(cls, search_path: str | None = None) -> InterpreterCatalog:
        path = os.pathsep.join(os.get_exec_path()) if search_path is None else search_path
        return cls(tuple(discover_pythons(path)), tuple(discover_node(path)))

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
