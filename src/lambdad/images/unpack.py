"""Unpack one layer (a tar, gzip'd or zstd'd) into its own directory, safely.

Everything in a layer is hostile. The rules, checked per entry:
- names are relative and stay inside: a leading `/` or `./` is dropped (as
  docker does), any `..` component refuses the layer;
- nothing is written through a symlink: every parent of an entry must be a real
  directory made by this layer (a symlink at a parent refuses the layer); files
  are opened with O_NOFOLLOW|O_EXCL;
- hard links name an earlier regular file of the same layer, nothing else;
- device nodes and fifos are dropped; setuid, setgid and sticky bits are cleared;
- sparse members are refused (a small member that writes a huge file), pax and
  GNU long-name headers are bounded (tarfile reads them into memory), and the
  decompressed stream, the bytes written and the entry count are bounded by
  `ImageLimits` (a decompression bomb stops at the bound, not at the disk's end).
Symlink *targets* are kept as they are, absolute or not: they are resolved inside
the sandbox's root, and the host never follows them.

Whiteouts (`.wh.NAME`, `.wh..wh..opq`) are kept as empty marker files; `compose`
applies them when it stacks layers.

Python's `tarfile` data filter is not used: it refuses absolute symlinks, which
every real root filesystem has (`/bin -> usr/bin`), and it does not bound sizes.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import os
import stat
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import zstandard

from lambdad.images.errors import ImageInvalid, ImageTooLarge
from lambdad.images.limits import ImageLimits

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1024 * 1024
# What an entry itself can provoke: a name too long, too many links to one file.
_IMAGE_ERRNOS = {errno.ENAMETOOLONG, errno.EMLINK, errno.ELOOP, errno.EINVAL, errno.EEXIST}
_LONG_HEADERS = {
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
}


class Refused(Exception):
    """A layer or archive broke a rule (becomes ImageInvalid)."""


class _Over(Exception):
    """A layer passed a bound (becomes ImageTooLarge)."""


@dataclass(frozen=True)
class LayerStats:
    size_bytes: int  # bytes of regular files written
    entries: int


def open_decompressed(raw: IO[bytes]) -> IO[bytes]:
    """A reader of the layer's tar bytes, whatever the compression (by magic number:
    a media type may lie, and docker-archive names none)."""
    head = raw.read(4)
    raw.seek(0)
    if head.startswith(GZIP_MAGIC):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if head == ZSTD_MAGIC:
        return cast(IO[bytes], zstandard.ZstdDecompressor().stream_reader(raw))
    return raw


class _Bounded:
    """Counts the decompressed bytes tarfile reads and stops past `limit`."""

    def __init__(self, inner: IO[bytes], limit: int) -> None:
        self.inner, self.limit, self.count = inner, limit, 0

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size if size >= 0 else _CHUNK)
        self.count += len(data)
        if self.count > self.limit:
            raise _Over(f"a layer decompresses to more than {self.limit} bytes")
        return data


def _bounded_tarinfo(max_header: int) -> type[tarfile.TarInfo]:
    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_member(self, tarfile_: tarfile.TarFile) -> Any:
            if self.type in _LONG_HEADERS and self.size > max_header:
                raise Refused(f"a {self.size}-byte extended header")
            if self.type == tarfile.GNUTYPE_SPARSE:
                raise Refused(f"sparse member {self.name!r}")
            return super()._proc_member(tarfile_)  # type: ignore[misc]

    return BoundedTarInfo


def safe_name(name: str) -> str | None:
    """The entry's path relative to the layer root, or None for the root itself."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise Refused(f"path {name!r} leaves the root")
    if any("\x00" in p for p in parts):
        raise Refused(f"path {name!r} has a NUL byte")
    return "/".join(parts) or None


def unpack_layer(blob: Path, dest: Path, limits: ImageLimits, image_uri: str) -> LayerStats:
    """Unpack the layer blob into `dest` (a new, empty directory). On error `dest`
    is left for the caller to remove."""
    try:
        with blob.open("rb") as raw, open_decompressed(raw) as stream:
            return _Unpacker(dest, limits).run(stream)
    except _Over as e:
        raise ImageTooLarge(image_uri, str(e)) from None
    except Refused as e:
        raise ImageInvalid(image_uri, f"a layer is refused: {e}") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, zstandard.ZstdError) as e:
        raise ImageInvalid(image_uri, f"a layer is corrupt ({e or type(e).__name__})") from None
    except OSError as e:
        if e.errno not in _IMAGE_ERRNOS:
            raise  # the host's trouble (a full disk), not the image's
        raise ImageInvalid(image_uri, f"a layer cannot be unpacked ({e.strerror})") from None


class _Unpacker:
    def __init__(self, dest: Path, limits: ImageLimits) -> None:
        self.dest, self.limits = dest, limits
        self.size = 0
        self.entries = 0
        self.files: set[str] = set()  # regular files so far (hard-link targets)

    def run(self, stream: IO[bytes]) -> LayerStats:
        # Headers and padding add at most ~1.5 KiB an entry over the file bytes.
        bound = self.limits.max_bytes + self.limits.max_entries * 1536 + _CHUNK
        reader = _Bounded(stream, bound)
        tarinfo = _bounded_tarinfo(self.limits.max_header_bytes)
        with tarfile.open(fileobj=reader, mode="r|", tarinfo=tarinfo) as tar:  # type: ignore[call-overload]
            for member in tar:
                self._entry(tar, member)
        return LayerStats(size_bytes=self.size, entries=self.entries)

    def _entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        name = safe_name(member.name)
        if name is None:
            return
        self.entries += 1
        if self.entries > self.limits.max_entries:
            raise _Over(f"more than {self.limits.max_entries} files")
        if member.ischr() or member.isblk() or member.isfifo():
            return  # device nodes and fifos: nothing an image may bring
        target = self._place(name, keep_dir=member.isdir())
        mode = member.mode & 0o777  # no setuid, setgid or sticky bit
        if member.isdir():
            if not target.is_dir():
                target.mkdir(mode=0o755)
            os.chmod(target, mode | 0o700)  # root writes below it while unpacking
        elif member.isreg():
            self._file(tar, member, target, mode)
            self.files.add(name)
        elif member.issym():
            os.symlink(member.linkname, target)
        elif member.islnk():
            source = safe_name(member.linkname)
            if source is None or source not in self.files:
                raise Refused(f"hard link {name!r} to {member.linkname!r}, not a file of the layer")
            os.link(self.dest / source, target, follow_symlinks=False)
        else:
            raise Refused(f"entry {name!r} of unknown type {member.type!r}")

    def _place(self, name: str, keep_dir: bool) -> Path:
        """Make the entry's parents (real directories only) and clear its place:
        a later entry of one tar replaces an earlier one of the same name."""
        parent = self.dest
        for part in name.split("/")[:-1]:
            parent = parent / part
            try:
                info = os.lstat(parent)
            except FileNotFoundError:
                os.mkdir(parent, 0o755)
                continue
            if not stat.S_ISDIR(info.st_mode):
                raise Refused(f"path {name!r} goes through a non-directory")
        target = parent / name.rsplit("/", 1)[-1]
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            return target
        if stat.S_ISDIR(info.st_mode):
            if keep_dir:
                return target
            raise Refused(f"entry {name!r} replaces a directory")
        os.unlink(target)
        self.files.discard(name)
        return target

    def _file(self, tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, mode: int) -> None:
        self.size += member.size
        if self.size > self.limits.max_bytes:
            raise _Over(f"more than {self.limits.max_bytes} bytes uncompressed")
        source = tar.extractfile(member)
        assert source is not None  # a regular member always has data
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(target, flags, 0o600)
        with os.fdopen(fd, "wb") as out:
            remaining = member.size
            while remaining > 0:
                chunk = source.read(min(_CHUNK, remaining))
                if not chunk:
                    raise Refused(f"file {member.name!r} is truncated")
                out.write(chunk)
                remaining -= len(chunk)
            os.fchmod(out.fileno(), mode)
        # Kept: a .pyc is checked against its source's mtime.
        with contextlib.suppress(OverflowError, ValueError, OSError):
            os.utime(target, (member.mtime, member.mtime), follow_symlinks=False)
