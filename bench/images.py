"""What a container image costs: import, pull, unpack, and every later resolve.

    .venv/bin/python bench/images.py [--mb 64] [--files 2000] [-n 20] [--write]

Builds an image from scratch (busybox, then `--files` files of random bytes adding
up to `--mb` MB, in two gzip'd layers), then times on a fresh store each time:

1. import: the OCI-layout tar read, every blob verified, layers unpacked, the root
   composed (what `lambdad images import` costs the server after the upload);
2. pull: the same from Debian's docker-registry on loopback (when installed);
3. cached resolve: a later `resolve` of the same tag (every CreateFunction after);
4. a second image sharing the big layer: only its small top layer is unpacked;
5. the floor: GNU tar extracting the same layers into one dir with no checks.

Prints a Markdown table; `--write` puts it into bench/RESULTS.md (images section).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from measure import pct, write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from lambdad.images.registry import parse_registries
from lambdad.images.service import ImageService
from lambdad.images.store import LocalImages
from support.images import build_image, busybox_layer, file, layer_tar, push
from support.registry import registry_binary, running_registry

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- images-store:start -->", "<!-- images-store:end -->"


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=64)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    size = args.mb * 1024 * 1024 // args.files
    big = layer_tar(
        [file(f"opt/data/{i // 100}/f{i}.bin", os.urandom(size)) for i in range(args.files)]
    )
    image = build_image([busybox_layer("#!/bin/sh\n"), big], cmd=["app.handler"])
    other = build_image([busybox_layer("#!/bin/sh\n"), big, layer_tar([file("top", "2")])])
    work = Path(tempfile.mkdtemp(prefix="bench-images-"))
    rows = ["| step | ms |", "|---|---|"]
    try:
        archive = work / "image.tar"
        archive.write_bytes(image.oci_layout())
        other_archive = work / "other.tar"
        other_archive.write_bytes(other.oci_layout())

        store = ImageService(LocalImages(work / "import"))
        rows.append(
            f"| import ({args.mb} MB, {args.files} files) | "
            f"{timed(lambda: store.import_archive(archive, 'app:1')):.0f} |"
        )
        cached = [timed(lambda: store.resolve("app:1")) for _ in range(args.n)]
        rows.append(
            f"| cached resolve p50 / p90 (n={args.n}) | "
            f"{pct(cached, 0.5):.3f} / {pct(cached, 0.9):.3f} |"
        )
        rows.append(
            "| second image sharing the big layer | "
            f"{timed(lambda: store.import_archive(other_archive, 'app:2')):.0f} |"
        )

        if registry_binary() is not None:
            with running_registry(work / "registry") as registry:
                push(registry.url, "bench/app", "v1", image)
                pulled = ImageService(LocalImages(work / "pull"), parse_registries(registry.url))
                ms = timed(lambda: pulled.resolve("bench/app:v1"))
                rows.append(f"| pull from docker-registry on loopback | {ms:.0f} |")
                again = [timed(lambda: pulled.resolve("bench/app:v1")) for _ in range(args.n)]
                rows.append(
                    f"| resolve of a tag again (asks the registry) p50 | {pct(again, 0.5):.1f} |"
                )

        floor = work / "floor"
        floor.mkdir()
        blobs = [work / f"layer{n}.tar.gz" for n in range(len(image.layers))]
        for path, data in zip(blobs, image.layers, strict=True):
            path.write_bytes(data)
        ms = timed(
            lambda: [
                subprocess.run(["tar", "-xzf", str(b), "-C", str(floor)], check=True) for b in blobs
            ]
        )
        rows.append(f"| floor: GNU tar -xzf of the layers, no checks | {ms:.0f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    table = "\n".join(rows)
    print(table)
    if args.write:
        command = f"bench/images.py --mb {args.mb} --files {args.files} -n {args.n} --write"
        load = os.getloadavg()[0]
        section = "\n".join(
            [
                START,
                "## Container images: import, pull, resolve",
                "",
                f"Produced by `.venv/bin/python {command}` (from the repo root, "
                f"load average {load:.1f} on the 2-core box).",
                "",
                table,
                "",
                NOTE,
                END,
            ]
        )
        write_section(RESULTS, START, END, section)


NOTE = """\
Each layer is unpacked once, by digest, with every entry checked (names, links, sizes,
modes); an image's root is then made of hard links into its layers' directories (no
data copied; Debian's bubblewrap 0.8 has no `--overlay-src`, so a read-only overlay of
the layer dirs was not an option), so a second image sharing a layer pays only for
its own layers plus one link per file. A resolve of an image that is here is a file
read; a tag that names a registry image is asked of the registry each time (a tag may
move), which costs one manifest request."""


if __name__ == "__main__":
    main()
