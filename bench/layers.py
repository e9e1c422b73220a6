"""What /opt costs a cold start: the shared merged tree beside a copy per environment.

    .venv/bin/python bench/layers.py [--layers 3] [--files 3000] [--kb 4] [-n 10]

Builds `--layers` layer zips of `--files` files of `--kb` KB each, unpacks each once
through the code cache (as activation does), then times, in the same run:

1. the first use of the combination: the merged tree built from hard links
   (`OptTrees.ensure`, once per combination on a server);
2. every later use: `OptTrees.ensure` finding the tree (what each cold start pays);
3. the floor it replaced: copying the layers into a fresh dir per environment
   (`shutil.copytree`, what the environment did before layers were shared).

Prints a Markdown table; nothing is written to bench/RESULTS.md by this script.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from measure import pct

from lambdad.catalog import CodeCache, OptTrees
from lambdad.store import BlobStore


def layer_zip(index: int, files: int, kb: int) -> bytes:
    buffer = io.BytesIO()
    payload = os.urandom(kb * 1024)
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for i in range(files):
            # Half the paths are shared by every layer, so later layers override them.
            owner = "shared" if i % 2 else f"layer{index}"
            archive.writestr(f"python/{owner}/pkg{i % 50}/mod{i}.py", payload)
    return buffer.getvalue()


def timed_ms(call: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--kb", type=int, default=4)
    parser.add_argument("-n", type=int, default=10)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="lambdad-bench-layers-"))
    try:
        blobs = BlobStore(root / "blobs")
        cache = CodeCache(blobs, root / "code")
        trees = OptTrees(cache, root / "opt")
        keys = [blobs.put(layer_zip(i, args.files, args.kb)) for i in range(args.layers)]
        unpack = timed_ms(lambda: [cache.ensure(k) for k in keys], 1)[0]
        first = timed_ms(lambda: trees.ensure(keys), 1)[0]
        reuse = timed_ms(lambda: trees.ensure(keys), args.n)
        copies: list[Path] = []

        def copy_per_environment() -> None:
            dest = root / "copies" / str(len(copies))
            for key in keys:
                shutil.copytree(cache.path(key), dest, symlinks=True, dirs_exist_ok=True)
            copies.append(dest)

        copy = timed_ms(copy_per_environment, args.n)
        size_mb = args.layers * args.files * args.kb / 1024
        print(
            f"{args.layers} layers x {args.files} files x {args.kb} KB ({size_mb:.0f} MB), "
            f"n={args.n}, load {os.getloadavg()[0]:.2f}, Python {sys.version.split()[0]}\n"
        )
        print("| step | p50 ms | p90 ms | data written per environment |")
        print("|---|---|---|---|")
        print(f"| unpack each layer once (activation) | {unpack:.1f} | - | - |")
        print(f"| merged tree, first use of the combination | {first:.1f} | - | 0 (hard links) |")
        print(
            f"| merged tree, every later cold start | {pct(reuse, 50):.3f} | "
            f"{pct(reuse, 90):.3f} | 0 |"
        )
        print(
            f"| floor replaced: copy the layers per environment | {pct(copy, 50):.1f} | "
            f"{pct(copy, 90):.1f} | {size_mb:.0f} MB |"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
