"""Stack unpacked layers into one root filesystem, applying OCI whiteouts.

bubblewrap 0.8 (Debian's) has no `--overlay-src`, so an image's root is a
flattened tree in which every regular file is a hard link into its layer's
directory: a file is stored once on disk however many images share the layer,
composing costs a link per file (no data copied), and the result is one
directory the sandbox binds read-only. Symlinks and directories are made anew
(they are cheap). The tree is never written after it is made: hard-linked
inodes are shared, so a write would reach every image holding that layer.

Whiteouts follow the OCI layer spec: `.wh.NAME` in a layer removes NAME of the
layers below; `.wh..wh..opq` in a directory hides everything the layers below
put in it. A later layer's entry replaces an earlier one of another kind (a
directory over a symlink, a file over a directory), as overlayfs shows it.
Nothing here follows a symlink: every path is checked with lstat.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from pathlib import Path

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


RESOLV_CONF = "etc/resolv.conf"
"""Where the sandbox binds its own resolver file over the image's (as container
runtimes do): the image's /etc is read-only there, so the mount point must exist."""


def compose(layers: Sequence[Path], dest: Path) -> None:
    """Make `dest` (must not exist) from `layers`, lowest first."""
    dest.mkdir(mode=0o755)
    for layer in layers:
        _apply(layer, dest)
    add_mount_points(dest)
    os.chmod(dest, 0o755)


def add_mount_points(root: Path) -> None:
    """Make etc/resolv.conf a regular file in a root whose etc is a directory (an empty
    one where the image has none, or has a symlink there: images are built without
    the file their build host's runtime bound). A new inode, never a write into a
    layer's: idempotent, and safe on a root in use (blocking)."""
    etc = root / "etc"
    target = root / RESOLV_CONF
    if not etc.is_dir() or etc.is_symlink():
        return
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    if info is not None and stat.S_ISREG(info.st_mode):
        return
    if info is not None and stat.S_ISDIR(info.st_mode):
        return  # nothing a file can be bound over: the sandbox leaves it be
    staged = etc / f".resolv.conf.{os.getpid()}.tmp"
    staged.write_bytes(b"")
    os.chmod(staged, 0o644)
    os.replace(staged, target)  # over a symlink, atomically


def _remove(path: Path) -> None:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _apply(layer: Path, dest: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(layer):
        rel = os.path.relpath(dirpath, layer)
        here = dest if rel == "." else dest / rel
        names = sorted(dirnames + filenames)
        if OPAQUE in names:
            for child in os.listdir(here):
                _remove(here / child)
        for name in names:
            if name.startswith(WHITEOUT) and name != OPAQUE:
                hidden = name[len(WHITEOUT) :]
                if hidden not in ("", ".", ".."):
                    _remove(here / hidden)
        for name in names:
            if name.startswith(WHITEOUT):
                continue
            _place(Path(dirpath) / name, here / name)


def _place(source: Path, target: Path) -> None:
    info = os.lstat(source)
    try:
        existing: os.stat_result | None = os.lstat(target)
    except FileNotFoundError:
        existing = None
    if stat.S_ISDIR(info.st_mode):
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            os.unlink(target)
            existing = None
        if existing is None:
            os.mkdir(target)
        os.chmod(target, stat.S_IMODE(info.st_mode))
        return
    if existing is not None:
        _remove(target)
    if stat.S_ISLNK(info.st_mode):
        os.symlink(os.readlink(source), target)
    elif stat.S_ISREG(info.st_mode):
        os.link(source, target, follow_symlinks=False)
