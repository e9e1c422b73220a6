"""Deployment packages for tests: good ones and every kind Lambda refuses."""

from __future__ import annotations

import functools
import io
import warnings
import zipfile
from collections.abc import Mapping

HANDLER_SOURCE = "def handler(event, context):\n    return {'echo': event, 'v': %r}\n"


def make_zip(files: Mapping[str, bytes | str], executable: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def handler_zip(tag: str = "1") -> bytes:
    """A small Python package whose bytes differ by `tag`."""
    return make_zip({"app.py": HANDLER_SOURCE % tag})


def symlink_zip(name: str = "link", target: str = "../../etc/passwd") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", HANDLER_SOURCE % "x")
        info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        archive.writestr(info, target)
    return buffer.getvalue()


@functools.cache
def bomb_zip(megabytes: int = 300) -> bytes:
    """One entry of `megabytes` MB of zeros: a few hundred KB zipped."""
    buffer = io.BytesIO()
    chunk = bytes(1024 * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("zeros.bin", "w", force_zip64=True) as entry:
            for _ in range(megabytes):
                entry.write(chunk)
    return buffer.getvalue()


def links_zip(*entries: tuple[str, str, bool]) -> bytes:
    """A package of (name, content, is_link) entries in this order, plus app.py.

    A link's content is its target, as zip tools store symlinks.
    """
    buffer = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w") as archive:
        warnings.simplefilter("ignore")  # duplicate names are part of the attack
        archive.writestr("app.py", HANDLER_SOURCE % "links")
        for name, content, is_link in entries:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o120777 if is_link else 0o100644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()
