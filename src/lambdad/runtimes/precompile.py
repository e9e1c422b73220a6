"""Bytecode for the in-sandbox scripts, compiled on the host ahead of the sandbox.

Python never caches the bytecode of the script it is asked to run, and the
bootstraps dir is read-only inside the sandbox anyway, so every cold start
would compile init.py and the python bootstrap again (~4 ms of CPU each).
Instead the host writes `<cache dir>/<name>.<cache tag>.<digest>.pyc` once
(again when the source changes) and the sandbox runs that file: CPython runs
a `.pyc` given as the script directly. The cache dir is the server's (under
its data dir, mounted into the sandbox), never the source tree: the server
writes nothing where it is installed.

The code objects are compiled with their filename as the sandbox sees the
source (`/var/runtime/init.py`), so tracebacks and `co_filename` read the
same as when the source itself runs. A pyc only runs on the same
major.minor version that wrote it; callers fall back to the source otherwise,
or when the cache dir is not writable.
"""

from __future__ import annotations

import hashlib
import logging
import os
import py_compile
import sys
import threading
from pathlib import Path

log = logging.getLogger(__name__)

_lock = threading.Lock()
_done: dict[tuple[Path, str, Path], tuple[int, int, Path | None]] = {}
"""(source, filename seen inside, cache dir) -> (source mtime_ns, size, pyc or None if it
can't be written)."""


def precompiled(
    source: Path, seen_as: str, version: tuple[int, ...], cache_dir: Path
) -> str | None:
    """The name of `source`'s fresh .pyc in `cache_dir`, or None to run the source.

    `seen_as` is the source's path inside the sandbox, `version` the (major,
    minor) of the interpreter that will run it. Costs one stat when the pyc is
    already there; compiles (and writes) otherwise.
    """
    if tuple(version[:2]) != sys.version_info[:2]:
        return None
    try:
        st = source.stat()
    except OSError:
        return None
    key = (source, seen_as, cache_dir)
    with _lock:
        known = _done.get(key)
        if (
            known is None
            or known[:2] != (st.st_mtime_ns, st.st_size)
            or (known[2] is not None and not known[2].exists())
        ):
            known = (st.st_mtime_ns, st.st_size, _compile(source, seen_as, cache_dir))
            _done[key] = known
    pyc = known[2]
    return None if pyc is None else pyc.name


def _compile(source: Path, seen_as: str, cache_dir: Path) -> Path | None:
    digest = hashlib.sha256(seen_as.encode()).hexdigest()[:12]
    tag = sys.implementation.cache_tag
    pyc = cache_dir / f"{source.stem}.{tag}.{digest}.pyc"
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        cache_dir.chmod(0o755)  # the sandbox's uid reads it
        # Timestamp mode: the header records the source's mtime and size, but
        # nothing checks them when the pyc runs as a script; we re-stat above.
        py_compile.compile(
            str(source),
            cfile=str(pyc),
            dfile=seen_as,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
        )
        os.chmod(pyc, 0o644)
    except (OSError, py_compile.PyCompileError) as exc:
        log.debug("runtimes: cannot precompile %s: %s", source, exc)
        return None
    return pyc
