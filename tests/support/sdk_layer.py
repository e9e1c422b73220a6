"""A layer with the host's boto3, for functions that `import boto3` in tests.

Until runtimes bundle their SDK (as AWS's do), a test function gets boto3 the
way a user would bring a newer one: a layer with it under `python/`. botocore's
data is cut to the services the tests call, so the layer stays a few MB.
"""

from __future__ import annotations

import io
import zipfile
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path

PACKAGES = ("boto3", "botocore", "dateutil", "jmespath", "s3transfer", "urllib3")
MODULES = ("six",)
SERVICES = ("s3", "lambda", "sts")


def _origin(name: str) -> Path:
    spec = find_spec(name)
    assert spec is not None and spec.origin is not None, f"{name} is not installed"
    return Path(spec.origin)


@lru_cache(maxsize=1)
def boto3_layer_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name in PACKAGES:
            root = _origin(name).parent
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root)
                if not path.is_file() or "__pycache__" in relative.parts:
                    continue
                parts = relative.parts
                if name == "botocore" and parts[0] == "data" and len(parts) > 2:
                    if parts[1] not in SERVICES:
                        continue
                archive.write(path, f"python/{name}/{relative.as_posix()}")
        for name in MODULES:
            archive.write(_origin(name), f"python/{name}.py")
    return buffer.getvalue()
