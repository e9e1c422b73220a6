"""Deployment packages: check a zip the way Lambda does, and unpack it safely.

The unzipped size is counted from the bytes actually inflated, never from the
sizes the archive claims, so a zip bomb is refused after at most the limit is
read and nothing is written to disk while checking. Entries that would land
outside the root (`..`, absolute paths, links pointing out) are refused.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import posixpath
import shutil
import stat
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from lambdad.errors import InvalidParameterValue, RequestTooLarge

MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 262_144_000
MAX_ENTRIES = 100_000
_CHUNK = 1024 * 1024

CORRUPT_ZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."


@dataclass(frozen=True)
class CodePackage:
    data: bytes
    sha256_hex: str
    code_sha256: str
    """Base64 of the SHA-256 digest: AWS's CodeSha256."""
    unzipped_size: int

    @property
    def size(self) -> int:
        return len(self.data)


def inspect_zip(data: bytes) -> CodePackage:
    """Validate a deployment package; raise AWS's error for what Lambda refuses."""
    if not data:
        raise InvalidParameterValue("Uploaded file must be a non-empty zip")
    if len(data) > MAX_ZIPPED_BYTES:
        raise RequestTooLarge(f"Zipped file size must be smaller than {MAX_ZIPPED_BYTES} bytes")
    total = 0
    links: set[str] = set()
    with _open_zip(data) as archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise InvalidParameterValue(f"Zip file has more than {MAX_ENTRIES} entries")
        for info in entries:
            _check_entry(archive, info, links)
            total += _inflated_size(archive, info, MAX_UNZIPPED_BYTES - total)
    digest = hashlib.sha256(data).digest()
    return CodePackage(
        data=data,
        sha256_hex=digest.hex(),
        code_sha256=base64.b64encode(digest).decode(),
        unzipped_size=total,
    )


def extract_zip(data: bytes, dest: Path) -> None:
    """Unpack a checked package into `dest` (created; must not exist).

    Files keep their executable bit; the tree is made read-only afterwards.
    Extraction goes to a sibling temp dir renamed into place, so a crash
    never leaves half a tree at `dest`.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
    try:
        budget = MAX_UNZIPPED_BYTES
        links: set[str] = set()
        with _open_zip(data) as archive:
            for info in archive.infolist():
                _check_entry(archive, info, links)
                budget -= _extract_entry(archive, info, staging, budget)
        # mkdtemp makes 0700; the sandbox's user (not ours) must read the tree.
        staging.chmod(0o755)
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise InvalidParameterValue(CORRUPT_ZIP) from exc


def _safe_name(name: str) -> str:
    """The entry's path relative to the root, or an error if it escapes."""
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        raise InvalidParameterValue(f"Zip entry has an absolute path: {name}")
    parts = [p for p in normalized.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidParameterValue(f"Zip entry has a path outside the package root: {name}")
    return "/".join(parts)


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return info.create_system == 3 and stat.S_ISLNK(info.external_attr >> 16)


def _check_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, links: set[str]) -> None:
    """Refuse an entry that escapes the root; `links` collects the links seen so far.

    An entry below a link (`a` -> `.`, then `a/b`) is refused: a chain of such
    links would make a path that looks inside resolve outside the root.
    """
    relative = _safe_name(info.filename)
    parts = relative.split("/")
    for depth in range(1, len(parts)):
        if "/".join(parts[:depth]) in links:
            raise InvalidParameterValue(
                f"Zip entry {info.filename} is below a link, outside the package root"
            )
    if not _is_symlink(info):
        return
    links.add(relative)
    target = _read_limited(archive, info, 4096).decode("utf-8", "replace")
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(relative), target))
    if target.startswith("/") or resolved == ".." or resolved.startswith("../"):
        raise InvalidParameterValue(
            f"Zip entry {info.filename} is a link to {target}, outside the package root"
        )


def _inflated_size(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> int:
    size = 0
    try:
        with archive.open(info) as src:
            while chunk := src.read(_CHUNK):
                size += len(chunk)
                if size > budget:
                    raise InvalidParameterValue(
                        f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
                    )
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise InvalidParameterValue(CORRUPT_ZIP) from exc
    return size


def _read_limited(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    try:
        with archive.open(info) as src:
            return src.read(limit)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as exc:
        raise InvalidParameterValue(CORRUPT_ZIP) from exc


def _extract_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path, budget: int) -> int:
    relative = _safe_name(info.filename)
    if not relative:
        return 0
    target = root / relative
    if info.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(root.resolve()):
        raise InvalidParameterValue(f"Zip entry {info.filename} is outside the package root")
    if _is_symlink(info):
        link = _read_limited(archive, info, 4096).decode("utf-8", "replace")
        target.unlink(missing_ok=True)
        os.symlink(link, target)
        return 0
    written = 0
    try:
        with archive.open(info) as src, open(target, "wb") as out:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > budget:
                    raise InvalidParameterValue(
                        f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
                    )
                out.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise InvalidParameterValue(CORRUPT_ZIP) from exc
    mode = (info.external_attr >> 16) & 0o777 if info.create_system == 3 else 0
    # Lambda makes every file readable; keep the owner's executable bit.
    os.chmod(target, 0o755 if mode & 0o111 else 0o644)
    return written
