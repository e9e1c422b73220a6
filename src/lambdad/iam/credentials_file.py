"""The admin's key on disk: `<data dir>/credentials`, readable only by the operator.

It is an AWS shared credentials file (profile `default`), so the AWS CLI and
boto3 use it as is (`AWS_SHARED_CREDENTIALS_FILE=.lambdad/credentials`), and
the `lambdad` CLI reads it when no `AWS_ACCESS_KEY_ID` is set.
"""

from __future__ import annotations

import configparser
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

CREDENTIALS_FILE = "credentials"
PROFILE = "default"


@dataclass(frozen=True)
class KeyPair:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


def write_credentials(path: Path, key: KeyPair) -> None:
    """Write the file whole (0600 from its first byte) and move it into place."""
    text = (
        f"[{PROFILE}]\n"
        f"aws_access_key_id = {key.access_key_id}\n"
        f"aws_secret_access_key = {key.secret_access_key}\n"
    )
    staged = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(staged, path)


def read_credentials(path: Path) -> KeyPair | None:
    """The key in `path`'s default profile; None when there is no such file or profile."""
    parser = configparser.ConfigParser()
    try:
        parser.read_string(path.read_text())
        section = parser[PROFILE]
        return KeyPair(section["aws_access_key_id"], section["aws_secret_access_key"])
    except (OSError, KeyError, configparser.Error):
        return None
