"""Prepared runtime dirs: one table of pins, made once under a lock, read-only, and a
clear error when the registry is out of reach."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

import pytest

from lambdad.runtimes.bundles import NODE_SDK, PYTHON_SDK, Bundle, bundle_for, managed_runtimes
from lambdad.runtimes.prepare import RuntimePreparationError, RuntimeStore


def test_every_runtime_lambdad_runs_has_one_pinned_bundle() -> None:
    from lambdad.catalog.runtimes import ACTIVE_RUNTIMES

    managed = [r for r in ACTIVE_RUNTIMES if r.startswith(("python", "nodejs"))]
    assert sorted(managed) == sorted(managed_runtimes())
    py = bundle_for("python3.12")
    assert py is not None and py.packages == (
        f"boto3=={PYTHON_SDK['python3.12']}",
        f"botocore=={PYTHON_SDK['python3.12']}",
    )
    node = bundle_for("nodejs20.x")
    assert node is not None and f"@aws-sdk/client-s3@{NODE_SDK['nodejs20.x']}" in node.packages
    assert bundle_for("provided.al2023") is None


def test_bundle_keys_follow_pins_and_interpreter_version() -> None:
    a, b = bundle_for("python3.12"), bundle_for("python3.12", "3.13")
    assert a is not None and b is not None and a.key != b.key  # other wheels and bytecode
    assert bundle_for("nodejs20.x") == bundle_for("nodejs20.x")
    n20, n22 = bundle_for("nodejs20.x"), bundle_for("nodejs22.x")
    assert n20 is not None and n22 is not None
    assert n20.key == n22.key  # same pins: one prepared dir for both


def test_concurrent_cold_starts_prepare_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def build(self: RuntimeStore, bundle: Bundle, staging: Path, *_: object) -> None:
        calls.append(bundle.key)
        (staging / "boto3").mkdir(parents=True)
        (staging / "boto3" / "__init__.py").write_text("__version__ = 'x'\n")

    monkeypatch.setattr(RuntimeStore, "_build", build)
    store = RuntimeStore(tmp_path / "cache")
    bundle = bundle_for("python3.12")
    assert bundle is not None
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.ensure(bundle))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert calls == [bundle.key] and len(results) == 4 and len(set(results)) == 1
    made = results[0]
    assert made == store.path(bundle) and store.ready(bundle) == made
    assert (made / "boto3" / "__init__.py").stat().st_mode & 0o777 == 0o444
    assert (made / "boto3").stat().st_mode & 0o777 == 0o555
    assert [p.name for p in store.root.iterdir() if p.name.startswith(".tmp-")] == []


def test_offline_preparation_fails_with_a_clear_error(tmp_path: Path) -> None:
    # An index nobody listens on, and no machine-wide pip config (find-links, extra indexes).
    env = {
        **os.environ,
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_RETRIES": "0",
    }
    env.pop("PIP_FIND_LINKS", None)
    env.pop("PIP_EXTRA_INDEX_URL", None)
    store = RuntimeStore(tmp_path / "cache", python=sys.executable, env=env)
    bundle = bundle_for("python3.12")
    assert bundle is not None
    with pytest.raises(RuntimePreparationError) as caught:
        store.ensure(bundle)
    message = str(caught.value)
    assert "Cannot prepare runtime python3.12" in message
    assert "boto3==" in message and "lambdad runtimes prepare" in message
    assert store.ready(bundle) is None  # nothing half-made is left to be taken as ready
    assert [p.name for p in store.root.iterdir() if not p.name.startswith(".")] == []


def test_a_relative_cache_dir_is_made_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    store = RuntimeStore(Path("cache"))
    bundle = bundle_for("python3.12")
    assert bundle is not None
    assert store.mount_source(bundle) == tmp_path / "cache" / bundle.key


def test_missing_npm_is_named(tmp_path: Path) -> None:
    store = RuntimeStore(tmp_path, env={"PATH": str(tmp_path / "empty")})
    bundle = bundle_for("nodejs20.x")
    assert bundle is not None
    with pytest.raises(RuntimePreparationError, match="npm is not installed"):
        store.ensure(bundle)
