"""The runtime cache every test shares: the managed runtimes' SDKs are downloaded once
per checkout (`scripts/setup.sh --test` prepares the ones the tests use), never per test.

LAMBDAD_TEST_RUNTIME_CACHE names another dir (e.g. one kept across CI runs)."""

from __future__ import annotations

import os
from pathlib import Path

from lambdad.runtimes import RuntimeStore

REPO = Path(__file__).resolve().parents[2]


def runtime_cache_dir() -> Path:
    configured = os.environ.get("LAMBDAD_TEST_RUNTIME_CACHE")
    return Path(configured) if configured else REPO / ".cache" / "runtimes"


def runtime_store() -> RuntimeStore:
    return RuntimeStore(runtime_cache_dir())
