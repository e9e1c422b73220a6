"""The server key: what secrets in the database are encrypted with.

SigV4 verification needs each access key's secret in the clear, so secrets
cannot be stored hashed like passwords. They are sealed instead with AES-256-GCM
(`cryptography`'s AESGCM) under a key that lives in a file of its own beside
the data, `<data dir>/server.key`, readable only by the server's user (0600),
and never in the database: a copy of the database (a backup, a dump of the
PostgreSQL server) yields ciphertext only. Environment variables of functions
are sealed with the same key.

Every sealed value is bound to what it belongs to (`context`, GCM's associated
data, e.g. the access key id): a ciphertext moved to another row does not open.
Several servers sharing one PostgreSQL database must share this file too.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lambdad.errors import ServiceError

KEY_FILE = "server.key"
_VERSION = b"\x01"  # the first byte of every sealed value: the scheme, for a future rotation
_NONCE_BYTES = 12


class SealBroken(ServiceError):
    """A sealed value does not open with this server's key (another key, or tampered)."""


class ServerKey:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the server key is 32 bytes")
        self._aead = AESGCM(key)
        self._key = key

    @classmethod
    def load_or_create(cls, data_dir: Path) -> ServerKey:
        """The data dir's key, made (0600, atomically: two starts agree) on first use."""
        path = data_dir / KEY_FILE
        if not path.exists():
            # Written whole under a private name, then linked into place: a second
            # start racing this one finds either no key or the whole key.
            staged = data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
            fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, secrets.token_bytes(32))
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(staged, path)
            except FileExistsError:
                pass
            finally:
                staged.unlink()
        return cls(_read_key(path))

    def derive(self, purpose: str) -> bytes:
        """A key of its own for `purpose` (HMAC of the server key): e.g. what role
        session secrets are derived from, so they are never stored."""
        return hmac.new(self._key, f"lambdad:{purpose}".encode(), hashlib.sha256).digest()

    def seal(self, plaintext: bytes, context: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, context: bytes) -> bytes:
        if sealed[:1] != _VERSION or len(sealed) < 1 + _NONCE_BYTES + 16:
            raise SealBroken("A stored secret is not in a known sealed form.")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, body, context)
        except InvalidTag:
            raise SealBroken(
                "A stored secret does not open with this server's key "
                f"(is {KEY_FILE} the one the database was written with?)."
            ) from None


def _read_key(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) != 32:
        raise SealBroken(f"{path.name} is not a 32-byte key.")
    return key
