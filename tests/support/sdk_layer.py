"""A layer with the host's boto3, for functions that `import boto3` in tests.

Until runtimes bundle their SDK (as AWS's do), a test function gets boto3 the
way a user would bring a newer one: a layer with it under `python/`. botocore's
data is cut to the services the tests call, so the layer stays a few MB.
"""

from __future__ import annotations

import io
import zipfile
from functools import lru_cache
from pathlib import Path

import boto3
import botocore
import dateutil
import jmespath
import s3transfer
import six
import urllib3

SERVICES = ("s3", "lambda", "sts")


def _package_dir(module: object) -> Path:
    return Path(str(getattr(module, "__file__", ""))).parent


@lru_cache(maxsize=1)
def boto3_layer_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for module in (boto3, botocore, dateutil, jmespath, s3transfer, urllib3):
            root = _package_dir(module)
            for path in sorted(root.rglob("*")):
                relative = path.relative_to(root)
                if not path.is_file() or "__pycache__" in relative.parts:
                    continue
                if module is botocore and relative.parts[0] == "data" and len(relative.parts) > 2:
                    if relative.parts[1] not in SERVICES:
                        continue
                archive.write(path, f"python/{root.name}/{relative.as_posix()}")
        archive.write(str(six.__file__), "python/six.py")
    return buffer.getvalue()
