"""The image blob store: manifests, configs and compressed layers by sha256.

Blobs stream in (a layer may be gigabytes) into a temp file, hashed on the way;
only a blob whose bytes hash to the digest it was asked for is renamed into
place. A mismatch, or more bytes than the descriptor's size, is an error and
nothing is stored.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from lambdad.images.errors import ImageInvalid, ImageTooLarge


class ImageBlobs:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.root / digest.split(":", 1)[1]

    def exists(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def read(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)

    def digests(self) -> list[str]:
        return ["sha256:" + p.name for p in self.root.iterdir() if not p.name.startswith(".")]

    def put(
        self,
        chunks: Iterable[bytes],
        image_uri: str,
        expected: str | None = None,
        max_size: int | None = None,
    ) -> str:
        """Store the bytes; return their digest. With `expected`, a different digest
        refuses them (ImageInvalid); past `max_size` bytes, ImageTooLarge."""
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        hasher = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise ImageTooLarge(image_uri, f"a blob is larger than {max_size} bytes")
                    hasher.update(chunk)
                    out.write(chunk)
            digest = "sha256:" + hasher.hexdigest()
            if expected is not None and digest != expected:
                raise ImageInvalid(
                    image_uri, f"blob {expected} has the content of {digest} (corrupt or altered)"
                )
            os.replace(tmp, self.path(digest))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest
