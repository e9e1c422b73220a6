"""Deployment packages: check a zip the way Lambda does, and unpack it safely.

The unzipped size is counted from the bytes actually inflated, never from the
sizes the archive claims, so a zip bomb is refused after at most the limit is
read and nothing is written to disk while checking. Entries that would land
outside the root (`..`, absolute paths, links pointing out) are refused.

Links are checked as a whole before anything is extracted: each target is
resolved the way the kernel will resolve it once every link of the archive
exists (`d` -> `.` makes `d/..` the root's parent), whatever the order of the
entries, and a link that leads out of the root, loops, or shares its path
with another entry (or has entries below it) is refused.
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
MAX_LINK_TARGET = 4096  # PATH_MAX
_MAX_LINK_HOPS = 40  # the kernel's limit on links followed in one path lookup
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
    with _open_zip(data) as archive:
        _check_tree(archive)
        for info in archive.infolist():
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
        with _open_zip(data) as archive:
            links = _check_tree(archive)
            for info in archive.infolist():
                budget -= _extract_entry(archive, info, staging, budget, links)
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


def _check_tree(archive: zipfile.ZipFile) -> dict[str, str]:
    """Check every entry's path and every link; return the links (path: target)."""
    entries = archive.infolist()
    if len(entries) > MAX_ENTRIES:
        raise InvalidParameterValue(f"Zip file has more than {MAX_ENTRIES} entries")
    links: dict[str, str] = {}
    others: set[str] = set()
    for info in entries:
        relative = _safe_name(info.filename)
        if not _is_symlink(info):
            others.add(relative)
            continue
        if relative in links or not relative:
            raise InvalidParameterValue(f"Zip entry {info.filename} is a link given twice")
        links[relative] = _link_target(archive, info)
    # Nothing may be written through a link: no entry below one, no file or dir at one.
    paths = [(name, False) for name in others] + [(name, True) for name in links]
    for name, is_link in paths:
        parts = name.split("/")
        for depth in range(1, len(parts) + (not is_link)):
            if "/".join(parts[:depth]) in links:
                raise InvalidParameterValue(
                    f"Zip entry {name} is below or over a link, outside the package root"
                )
    for name, target in links.items():
        if not _resolves_inside(posixpath.dirname(name), target, links):
            raise InvalidParameterValue(
                f"Zip entry {name} is a link to {target}, outside the package root"
            )
    return links


def _link_target(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    target = _read_limited(archive, info, MAX_LINK_TARGET + 1).decode("utf-8", "replace")
    if not target or "\0" in target or len(target) > MAX_LINK_TARGET:
        raise InvalidParameterValue(f"Zip entry {info.filename} is a link without a valid target")
    return target


def _resolves_inside(base: str, target: str, links: dict[str, str]) -> bool:
    """Whether `target`, seen from directory `base`, stays in the root once every
    link in `links` exists: each component is followed as the kernel follows it,
    a link replaced by its own target before the next `..` applies."""
    if target.startswith("/"):
        return False  # the host's root, not the package's
    path = [p for p in base.split("/") if p]
    pending = target.split("/")
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not path:
                return False
            path.pop()
            continue
        path.append(part)
        followed = links.get("/".join(path))
        if followed is None:
            continue
        hops += 1
        if hops > _MAX_LINK_HOPS or followed.startswith("/"):
            return False  # a loop never resolves; an absolute target is the host's root
        path.pop()
        pending = followed.split("/") + pending
    return True


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


def _extract_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, root: Path, budget: int, links: dict[str, str]
) -> int:
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
        os.symlink(links[relative], target)  # checked: given once, nothing else at its path
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
