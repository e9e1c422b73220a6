"""The /opt an environment sees: its function's layers, merged in order, once per combination.

Each layer version is unpacked once by the code cache (content-addressed,
the same hostile-archive rules as function code). A function with one layer
sees that tree itself; with several, it sees a merged tree built once for
that ordered combination and shared read-only by every environment that
uses it. The merged tree is made of hard links to the unpacked layers, so
building it copies no file contents; a later layer's entry replaces an
earlier one's at the same path (a file, a link or a whole directory), as
Lambda extracts layers into /opt in order.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from lambdad.catalog.code_cache import CodeCache

IDLE_TREE_S = 7 * 24 * 3600.0
"""A merged tree unused this long is removed at server start (rebuilt if needed again)."""


class OptTrees:
    def __init__(self, code_cache: CodeCache, root: Path) -> None:
        self.code_cache = code_cache
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def ensure(self, layer_keys: Sequence[str]) -> Path | None:
        """The host dir to mount at /opt for layers `layer_keys` (blob keys, in order), or
        None when there are none (blocking: unpacks and links on first use)."""
        if not layer_keys:
            return None
        layers = [self.code_cache.ensure(key) for key in layer_keys]
        if len(layers) == 1:
            return layers[0]
        target = self.root / hashlib.sha256("\n".join(layer_keys).encode()).hexdigest()
        with self._lock:
            if not target.exists():
                _build_merged(layers, target)
            os.utime(target)  # last used: `prune` keeps what cold starts still use
        return target

    def prune(self, max_idle_s: float = IDLE_TREE_S, now: float | None = None) -> None:
        """Remove merged trees no cold start used for `max_idle_s`, and half-built ones.

        Only while no environment runs (at server start): a running sandbox
        may have a tree mounted."""
        cutoff = (time.time() if now is None else now) - max_idle_s
        for child in self.root.iterdir():
            if child.name.startswith(".") or child.stat().st_mtime < cutoff:
                shutil.rmtree(child, ignore_errors=True)


def _build_merged(layers: Sequence[Path], target: Path) -> None:
    """Merge `layers` in order into `target` (created by rename, so never half built)."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        for layer in layers:
            _merge_into(layer, staging)
        staging.chmod(0o755)  # mkdtemp makes 0700; the sandbox's user must read the tree
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _merge_into(layer: Path, dest_root: Path) -> None:
    """Lay `layer` over `dest_root`; never follows a link on either side."""
    for src_dir, dirnames, filenames in os.walk(layer, followlinks=False):
        dest_dir = dest_root / os.path.relpath(src_dir, layer)
        for name in list(dirnames):
            src, dest = Path(src_dir, name), dest_dir / name
            if src.is_symlink():
                # os.walk lists a link to a directory here; it is an entry like a file.
                dirnames.remove(name)
                _replace_with_link(src, dest)
            else:
                if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
                    _remove(dest)
                dest.mkdir(exist_ok=True)
                dest.chmod(0o755)  # whatever the server's umask, the sandbox's user reads it
        for name in filenames:
            src, dest = Path(src_dir, name), dest_dir / name
            if src.is_symlink():
                _replace_with_link(src, dest)
                continue
            _remove(dest)
            try:
                os.link(src, dest)
            except OSError:
                shutil.copy2(src, dest)  # another filesystem, or links refused there


def _replace_with_link(src: Path, dest: Path) -> None:
    _remove(dest)
    os.symlink(os.readlink(src), dest)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
