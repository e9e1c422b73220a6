"""Unpacked code on local disk, one read-only tree per distinct zip.

Environments mount these trees at /var/task; preparing one is the work that
moves a function from Pending to Active.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lambdad.catalog.code import extract_zip
from lambdad.store import BlobStore


class CodeCache:
    def __init__(self, blobs: BlobStore, root: Path) -> None:
        self.blobs = blobs
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def path(self, code_key: str) -> Path:
        return self.root / code_key

    def ensure(self, code_key: str) -> Path:
        """The unpacked tree for a blob, unpacking it first if needed (blocking)."""
        target = self.path(code_key)
        if target.exists():
            return target
        with self._lock:
            if not target.exists():
                extract_zip(self.blobs.get(code_key), target)
        return target
