"""A sandbox's private, size-limited /tmp, backed by disk as on Lambda.

Why not tmpfs: tmpfs pages are charged to the memory cgroup of whoever writes
them, so a 128 MB function could never fill a 512 MB /tmp. Instead each /tmp
is a sparse ext4 image mounted through a loop device: writing past its size
gives ENOSPC and its pages are ordinary page cache.

mkfs (~10 ms) runs once per size, into a template image; each disk is a
sparse copy of the template (~1 ms) plus a loop mount (~10 ms). Callers that
want the mount off the request path create disks ahead of time.

Fallbacks, each logged with a warning: a size-limited tmpfs when the host has
no loop devices or mkfs.ext4; a plain unlimited directory when we are not root.
All functions block.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import subprocess
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

DiskMode = Literal["ext4-loop", "tmpfs", "directory"]

_MS_NOSUID = 2
_MS_NODEV = 4
_MS_BIND = 4096
_MS_PRIVATE = 1 << 18
_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


def host_disk_mode() -> DiskMode:
    """The best /tmp backing this host supports."""
    if os.geteuid() != 0:
        return "directory"
    if (
        os.path.exists("/dev/loop-control")
        and shutil.which("mkfs.ext4")
        and shutil.which("mount")
        and shutil.which("debugfs")
    ):
        return "ext4-loop"
    return "tmpfs"


def sparse_copy(src: Path, dst: Path) -> None:
    """Copy only the allocated extents of `src` (an image is mostly holes)."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        os.ftruncate(fout.fileno(), size)
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fin.fileno(), offset, os.SEEK_DATA)
            except OSError:  # ENXIO: only holes remain
                break
            end = os.lseek(fin.fileno(), start, os.SEEK_HOLE)
            os.lseek(fin.fileno(), start, os.SEEK_SET)
            os.lseek(fout.fileno(), start, os.SEEK_SET)
            left = end - start
            while left > 0:
                n = os.copy_file_range(fin.fileno(), fout.fileno(), left)
                if n == 0:
                    break
                left -= n
            offset = end


def _mount(source: str, target: Path, fstype: str, flags: int, data: str) -> None:
    def arg(text: str) -> bytes | None:
        return text.encode() if text else None

    if _libc.mount(arg(source), str(target).encode(), arg(fstype), flags, arg(data)):
        e = ctypes.get_errno()
        raise OSError(e, f"mount {fstype} on {target}: {os.strerror(e)}")


def _is_mount_point(path: Path) -> bool:
    """Whether `path` is a mount point (os.path.ismount misses a dir bound on itself)."""
    target = str(path.resolve())
    with open("/proc/self/mountinfo") as f:
        # Field 5 is the mount point, with spaces and the like escaped as octal (\040).
        return any(line.split()[4].encode().decode("unicode_escape") == target for line in f)


def unmount(target: Path) -> None:
    """Unmount `target`; a busy mount is detached lazily rather than left behind."""
    if _libc.umount2(str(target).encode(), 0) == 0:
        return
    e = ctypes.get_errno()
    if e == 22:  # EINVAL: not a mount point (already unmounted)
        return
    if _libc.umount2(str(target).encode(), _MNT_DETACH):
        e = ctypes.get_errno()
        if e != 22:
            raise OSError(e, f"umount {target}: {os.strerror(e)}")


@dataclass
class TmpDisk:
    """One mounted /tmp. `path` is what gets bound at /tmp inside the sandbox."""

    root: Path
    """A directory owned by this disk (image, mount point); removed with it."""
    size_mb: int
    mode: DiskMode

    @property
    def path(self) -> Path:
        return self.root / "mnt"

    def prepare_for(self, uid: int, gid: int) -> None:
        """Hand the disk's root dir to the sandbox user (uid/gid as seen by the host)."""
        os.chown(self.path, uid, gid)
        os.chmod(self.path, 0o700)

    def remove(self) -> None:
        if self.mode != "directory":
            unmount(self.path)  # the loop device is auto-cleared on unmount
        shutil.rmtree(self.root, ignore_errors=True)


class TmpDiskFactory:
    """Makes `TmpDisk`s under `state_dir`, reusing one mkfs'd template per size."""

    def __init__(self, state_dir: Path, mode: DiskMode | None = None) -> None:
        self.state_dir = state_dir
        self.mode = mode or host_disk_mode()
        self._lock = threading.Lock()
        self._mounted = False
        if self.mode == "tmpfs":
            log.warning(
                "tmpdisk: no loop devices or mkfs.ext4 on this host; /tmp is a tmpfs "
                "whose pages count against the function's memory"
            )
        elif self.mode == "directory":
            log.warning("tmpdisk: not root; /tmp is a plain directory with no size limit")

    @property
    def disks_dir(self) -> Path:
        """Where every disk is mounted: a mount point of its own (see `_own_mount`)."""
        return self.state_dir / "disks"

    def _own_mount(self) -> None:
        """Make `disks_dir` a (private) mount of its own, once: then one detach of it in
        a sandbox launcher's mount namespace drops the copies of every other sandbox's
        disk that namespace was made with (see `late_mounts.Mounter.detach`). Without
        it each launcher's namespace would keep a copy of all N disk mounts: N² mounts
        of kernel memory for N environments."""
        disks = self.disks_dir
        with self._lock:
            if self._mounted or self.mode == "directory":
                return
            disks.mkdir(parents=True, exist_ok=True)
            if not _is_mount_point(disks):
                _mount(str(disks), disks, "", _MS_BIND, "")
                _mount("", disks, "", _MS_PRIVATE, "")
            self._mounted = True

    def close(self) -> None:
        """Unmount `disks_dir` (its disks are removed by then)."""
        with self._lock:
            if self._mounted:
                unmount(self.disks_dir)
                self._mounted = False

    def create(self, size_mb: int) -> TmpDisk:
        self._own_mount()
        root = self.disks_dir / uuid.uuid4().hex[:12]
        disk = TmpDisk(root=root, size_mb=size_mb, mode=self.mode)
        disk.path.mkdir(parents=True)
        try:
            if self.mode == "ext4-loop":
                image = root / "tmp.img"
                sparse_copy(self._template(size_mb), image)
                subprocess.run(
                    ["mount", "-o", "loop,nosuid,nodev,noatime", str(image), str(disk.path)],
                    check=True,
                    capture_output=True,
                )
            elif self.mode == "tmpfs":
                _mount("tmpfs", disk.path, "tmpfs", _MS_NOSUID | _MS_NODEV, f"size={size_mb}m")
        except (OSError, subprocess.CalledProcessError) as e:
            disk.remove()
            stderr = getattr(e, "stderr", b"") or b""
            raise OSError(f"tmpdisk: cannot create {size_mb} MB /tmp: {e} {stderr!r}") from e
        return disk

    def _template(self, size_mb: int) -> Path:
        path = self.state_dir / "templates" / f"ext4-{size_mb}m.img"
        with self._lock:
            if path.exists():
                return path
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".partial")
            with open(tmp, "wb") as f:
                f.truncate(size_mb * 1024 * 1024)
            # No journal, no reserved blocks: /tmp is scratch space and the whole size
            # should be usable. lost+found is removed so /tmp starts empty as on Lambda.
            subprocess.run(
                ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
                 "-E", "lazy_itable_init=1,nodiscard", str(tmp)],
                check=True, capture_output=True,
            )  # fmt: skip
            subprocess.run(
                ["debugfs", "-w", "-R", "rmdir lost+found", str(tmp)],
                check=True,
                capture_output=True,
            )
            tmp.rename(path)
            log.info("tmpdisk: made %d MB template %s", size_mb, path)
            return path
