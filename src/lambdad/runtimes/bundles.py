"""What each managed runtime bundles: the AWS SDK at pinned versions, one table.

Lambda's Python runtimes include the SDK for Python (boto3, botocore and their
dependencies) and its Node.js runtimes the AWS SDK for JavaScript v3. AWS's
own pages no longer publish one fixed version per runtime (the version varies
with the runtime's patch release and the region; AWS tells users to print
`boto3.__version__`); the last fixed table listed boto3-1.34.42 /
botocore-1.34.42 for python3.8 to python3.12. lambdad pins those for the
runtimes that table covered, and a release that supports the language version
for the runtimes that came later, so a function sees the same SDK on every
lambdad host and every run.

A bundle's `key` names its prepared directory (see `prepare`): it changes
with the pins, the interpreter version the packages are installed for and
`LAYOUT_VERSION`, so a changed table never reuses a stale directory.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

LAYOUT_VERSION = 1
"""Bump when the prepared directory's layout changes."""

PYTHON_SDK: dict[str, str] = {
    # runtime id -> boto3 / botocore version (they are released in pairs)
    "python3.9": "1.34.42",
    "python3.10": "1.34.42",
    "python3.11": "1.34.42",
    "python3.12": "1.34.42",
    "python3.13": "1.35.36",  # the first releases that support Python 3.13
    "python3.14": "1.40.50",  # and 3.14
}

NODE_SDK: dict[str, str] = {
    # runtime id -> version of every @aws-sdk package below (v3 releases them together)
    "nodejs18.x": "3.622.0",
    "nodejs20.x": "3.848.0",
    "nodejs22.x": "3.848.0",
    "nodejs24.x": "3.848.0",
}

NODE_PACKAGES = (
    "@aws-sdk/client-s3",
    "@aws-sdk/client-lambda",
    "@aws-sdk/client-dynamodb",
    "@aws-sdk/lib-dynamodb",
    "@aws-sdk/client-sqs",
    "@aws-sdk/client-sns",
    "@aws-sdk/client-sts",
)
"""The core of the v3 SDK that AWS's Node.js runtimes include (they ship every
client; these are the ones most functions use), installed with their dependencies."""

_PYTHON = re.compile(r"^python3\.(\d+)$")


@dataclass(frozen=True)
class Bundle:
    """The packages one runtime id bundles, for one interpreter version."""

    runtime: str
    family: str
    """"python" or "node"."""
    packages: tuple[str, ...]
    """Requirement strings for pip ("boto3==1.34.42") or npm ("@aws-sdk/client-s3@3.848.0")."""
    language_version: str
    """The interpreter the packages are for: "3.12" (of the interpreter that runs the
    runtime, which may differ from the id's on a fallback) or "" for node."""

    @property
    def key(self) -> str:
        text = "\n".join((str(LAYOUT_VERSION), self.family, self.language_version, *self.packages))
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        suffix = f"-{self.language_version}" if self.language_version else ""
        return f"{self.family}{suffix}-{digest}"

    @property
    def sdk_version(self) -> str:
        return self.packages[0].rpartition("=" if self.family == "python" else "@")[2]

    def describe(self) -> str:
        """One line for tables and logs: "boto3 1.34.42, botocore 1.34.42"."""
        if self.family == "python":
            return ", ".join(p.replace("==", " ") for p in self.packages)
        return f"AWS SDK for JavaScript v3 {self.sdk_version} ({len(self.packages)} packages)"


def bundle_for(runtime: str, language_version: str = "") -> Bundle | None:
    """The bundle of a runtime id; None for runtimes that bundle nothing (provided.*).

    `language_version`: the version of the interpreter that will run it ("3.11"),
    which decides which wheels and bytecode go in; defaults to the id's own."""
    if runtime in PYTHON_SDK:
        version = PYTHON_SDK[runtime]
        m = _PYTHON.match(runtime)
        assert m is not None
        lang = language_version or f"3.{m.group(1)}"
        return Bundle(runtime, "python", (f"boto3=={version}", f"botocore=={version}"), lang)
    if runtime in NODE_SDK:
        version = NODE_SDK[runtime]
        return Bundle(runtime, "node", tuple(f"{p}@{version}" for p in NODE_PACKAGES), "")
    return None


def managed_runtimes() -> tuple[str, ...]:
    """Every runtime id with a bundle, in the table's order."""
    return (*PYTHON_SDK, *NODE_SDK)
