"""Bytecode for the in-sandbox scripts, compiled on the host ahead of the sandbox.

Python never caches the bytecode of the script it is asked to run, and the
bootstraps dir is read-only inside the sandbox anyway, so every cold start
would compile init.py and the python bootstrap again (~4 ms of CPU each).
Instead the host writes `<dir>/__pycache__/<name>.<cache tag>.<digest>.pyc` once
(again when the source changes) and the sandbox runs that file: CPython runs
a `.pyc` given as the script directly.

The code objects are compiled with their filename as the sandbox sees the
source (`/var/runtime/init.py`), so tracebacks and `co_filename` read the
same as when the source itself runs. A pyc only runs on the same
major.minor version that wrote it; callers fall back to the source otherwise,
or when the dir is not writable (an installed, read-only package).
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
_done: dict[tuple[Path, str], tuple[int, int, Path | None]] = {}
"""(source, filename seen inside) -> (source mtime_ns, size, pyc or None if it can't be written)."""


def precompiled(source: Path, seen_as: str, version: tuple[int, ...]) -> str | None:
    """`seen_as` with the source's name swapped for its fresh .pyc, or None to run the source.

    `version` is the (major, minor) of the interpreter that will run it. Costs
    one stat when the pyc is already there; compiles (and writes) otherwise.
    """
    if tuple(version[:2]) != sys.version_info[:2]:
        return None
    try:
        st = source.stat()
    except OSError:
        return None
    key = (source, seen_as)
    with _lock:
        known = _done.get(key)
        if (
            known is None
            or known[:2] != (st.st_mtime_ns, st.st_size)
            or (known[2] is not None and not known[2].exists())
        ):
            known = (st.st_mtime_ns, st.st_size, _compile(source, seen_as))
            _done[key] = known
    pyc = known[2]
    if pyc is None:
        return None
    return f"{seen_as.rsplit('/', 1)[0]}/__pycache__/{pyc.name}"


def _compile(source: Path, seen_as: str) -> Path | None:
    digest = hashlib.sha256(seen_as.encode()).hexdigest()[:12]
    tag = sys.implementation.cache_tag
    pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.{digest}.pyc"
    try:
        # Timestamp mode: the header records the source's mtime and size, but
        # nothing checks them when the pyc runs as a script; we re-stat above.
        py_compile.compile(
            str(source),
            cfile=str(pyc),
            dfile=seen_as,
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP,
        )
        os.chmod(pyc, 0o644)  # the sandbox's uid reads it
    except (OSError, py_compile.PyCompileError) as exc:
        log.debug("runtimes: cannot precompile %s: %s", source, exc)
        return None
    return pyc
