"""The local image store: images made ready from a source, named, listed, removed.

Layout under its root (the data dir's `images/`):

    blobs/<hex>            manifests, configs, compressed layers (blobs.py)
    layers/<hex>/          a layer unpacked once, by its blob's digest (unpack.py)
    layers/<hex>.json      its size and entry count, written when it is complete
    rootfs/<hex>/          an image's root filesystem, by manifest digest (compose.py)
    images/<hex>.json      an image's record, written last: an image is ready
                           exactly when its record exists
    names/<quoted name>    an imported image's name (repo:tag) -> its digest

Records and names are files rather than database rows: they describe what is on
this host's disk, next to the trees they name, and a database shared by several
hosts (PostgreSQL) would claim trees another host lacks.

Work is done once: one lock per digest (layer or image) makes a concurrent
resolve of the same image wait for the first instead of unpacking again. Work in
progress goes to `.tmp-*` paths renamed into place; a crash leaves only those,
which `clean` removes at start.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote

from lambdad.images.blobs import ImageBlobs
from lambdad.images.compose import compose
from lambdad.images.errors import ImageInvalid, ImageNotFound, ImageTooLarge
from lambdad.images.limits import ImageLimits
from lambdad.images.manifest import (
    INDEX_TYPES,
    Descriptor,
    Manifest,
    load_json,
    media_type_of,
    parse_config,
    parse_manifest,
    pick_manifest,
    sha256_digest,
)
from lambdad.images.model import ImageRuntimeConfig, ResolvedImage
from lambdad.images.reference import ImageReference
from lambdad.images.unpack import LayerStats, unpack_layer

# (done, total, what) while an image is made ready.
Progress = Callable[[int, int, str], None]


def quiet(_done: int, _total: int, _what: str) -> None:
    pass


class BlobSource(Protocol):
    """Where missing blobs come from: an archive being imported, or a registry."""

    def manifest(self, reference: str, image_uri: str) -> tuple[bytes, str]:
        """The manifest (or index) bytes for a tag or digest, and their media type."""
        ...

    def fetch(self, descriptor: Descriptor, blobs: ImageBlobs, image_uri: str) -> None:
        """Put the blob into `blobs` (verified against the descriptor's digest)."""
        ...


@dataclass(frozen=True)
class ImageRecord:
    digest: str
    repository: str  # registry/repository it was first made ready under
    architecture: str
    size_bytes: int
    config: ImageRuntimeConfig
    layers: tuple[str, ...]  # layer digests, lowest first
    created: float

    def to_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "digest": self.digest,
            "repository": self.repository,
            "architecture": self.architecture,
            "size_bytes": self.size_bytes,
            "config": {
                "entrypoint": list(c.entrypoint),
                "cmd": list(c.cmd),
                "working_dir": c.working_dir,
                "env": [list(kv) for kv in c.env],
            },
            "layers": list(self.layers),
            "created": self.created,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ImageRecord:
        c = doc["config"]
        return cls(
            digest=doc["digest"],
            repository=doc["repository"],
            architecture=doc["architecture"],
            size_bytes=doc["size_bytes"],
            config=ImageRuntimeConfig(
                entrypoint=tuple(c["entrypoint"]),
                cmd=tuple(c["cmd"]),
                working_dir=c["working_dir"],
                env=tuple((k, v) for k, v in c["env"]),
            ),
            layers=tuple(doc["layers"]),
            created=doc["created"],
        )


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class _Locks:
    """One lock per key, made on first use."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def held(self, key: str) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield


class _SweepGuard:
    """Builds run side by side; a sweep runs alone: it would take the blobs and
    layers of an image being made (not yet recorded) for garbage."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._building = 0
        self._sweeping = False

    @contextmanager
    def building(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._sweeping)
            self._building += 1
        try:
            yield
        finally:
            with self._cond:
                self._building -= 1
                self._cond.notify_all()

    @contextmanager
    def sweeping(self) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: not self._sweeping and not self._building)
            self._sweeping = True
        try:
            yield
        finally:
            with self._cond:
                self._sweeping = False
                self._cond.notify_all()


class LocalImages:
    def __init__(self, root: Path, limits: ImageLimits | None = None) -> None:
        self.root = root
        self.limits = limits or ImageLimits()
        self.blobs = ImageBlobs(root / "blobs")
        for part in ("layers", "rootfs", "images", "names"):
            (root / part).mkdir(parents=True, exist_ok=True)
        self._locks = _Locks()
        self._guard = _SweepGuard()
        self.building = self._guard.building  # held while blobs come in and an image is made
        self.unpacked: list[str] = []  # layer digests unpacked by this object, in order

    # -- records and names -------------------------------------------------

    def record(self, digest: str) -> ImageRecord | None:
        path = self.root / "images" / f"{digest.split(':', 1)[-1]}.json"
        try:
            return ImageRecord.from_json(json.loads(path.read_bytes()))
        except FileNotFoundError:
            return None

    def records(self) -> list[ImageRecord]:
        found = []
        for path in sorted((self.root / "images").glob("*.json")):
            found.append(ImageRecord.from_json(json.loads(path.read_bytes())))
        return found

    def rootfs(self, digest: str) -> Path:
        return self.root / "rootfs" / digest.split(":", 1)[1]

    def resolved(self, record: ImageRecord, reference: ImageReference) -> ResolvedImage:
        return ResolvedImage(
            image_uri=str(reference),
            digest=record.digest,
            resolved_image_uri=reference.pinned(record.digest),
            rootfs=self.rootfs(record.digest),
            config=record.config,
            size_bytes=record.size_bytes,
            architecture="arm64" if record.architecture == "arm64" else "x86_64",
        )

    def name_digest(self, name: str) -> str | None:
        try:
            return (self.root / "names" / quote(name, safe="")).read_text().strip()
        except FileNotFoundError:
            return None

    def set_name(self, name: str, digest: str) -> None:
        _write_atomic(self.root / "names" / quote(name, safe=""), digest.encode())

    def names(self) -> dict[str, str]:
        """Every imported name with its digest."""
        return {
            unquote(p.name): p.read_text().strip()
            for p in sorted((self.root / "names").iterdir())
            if not p.name.startswith(".")
        }

    def remove_name(self, name: str) -> str | None:
        """Forget a name; the image itself goes when no name is left for it and it
        came from no registry. Returns the digest the name had."""
        digest = self.name_digest(name)
        if digest is None:
            return None
        (self.root / "names" / quote(name, safe="")).unlink(missing_ok=True)
        if digest not in self.names().values():
            self.remove_image(digest)
        return digest

    def remove_image(self, digest: str) -> None:
        with self._locks.held(digest):
            hexd = digest.split(":", 1)[1]
            (self.root / "images" / f"{hexd}.json").unlink(missing_ok=True)
            shutil.rmtree(self.rootfs(digest), ignore_errors=True)
        self.sweep()

    def sweep(self) -> None:
        """Remove layers and blobs that no image record refers to."""
        with self._guard.sweeping():
            self._sweep()

    def _sweep(self) -> None:
        records = self.records()
        layers = {d for r in records for d in r.layers}
        wanted = layers | {r.digest for r in records}
        for path in (self.root / "layers").iterdir():
            hexd = path.name.removesuffix(".json")
            if not path.name.startswith(".") and f"sha256:{hexd}" not in layers:
                with self._locks.held(f"sha256:{hexd}"):
                    _remove_path(path)
        for digest in self.blobs.digests():
            if digest not in wanted:
                self.blobs.delete(digest)

    def clean(self) -> None:
        """Remove what an interrupted run left half made (and uploads it left)."""
        for folder in (
            self.root,
            *(self.root / p for p in ("blobs", "layers", "rootfs", "images", "names")),
        ):
            for path in folder.glob(".*"):
                _remove_path(path)

    # -- making an image ready ---------------------------------------------

    def make_ready(
        self,
        reference: ImageReference,
        source: BlobSource,
        progress: Progress = quiet,
    ) -> ResolvedImage:
        """Fetch, verify and unpack the image `reference` names from `source`."""
        uri = str(reference)
        wanted = reference.digest or reference.tag or "latest"
        data, given_type = source.manifest(wanted, uri)
        digest = sha256_digest(data)
        if reference.digest is not None and digest != reference.digest:
            raise ImageInvalid(uri, f"the manifest's digest is {digest}, not {reference.digest}")
        doc = load_json(data, uri, "manifest", self.limits.max_document_bytes)
        media_type = media_type_of(doc, given_type)
        if media_type in INDEX_TYPES:
            chosen = pick_manifest(doc, uri)
            data, given_type = source.manifest(chosen.digest, uri)
            digest = sha256_digest(data)
            if digest != chosen.digest:
                raise ImageInvalid(uri, f"manifest {chosen.digest} has the content of {digest}")
            doc = load_json(data, uri, "manifest", self.limits.max_document_bytes)
            media_type = media_type_of(doc, given_type)
        record = self.record(digest)
        if record is not None:
            return self.resolved(record, reference)
        manifest = parse_manifest(doc, media_type, uri, self.limits.max_layers)
        with self._locks.held(digest):
            record = self.record(digest) or self._build(
                reference, digest, data, manifest, source, progress
            )
        return self.resolved(record, reference)

    def _build(
        self,
        reference: ImageReference,
        digest: str,
        manifest_bytes: bytes,
        manifest: Manifest,
        source: BlobSource,
        progress: Progress,
    ) -> ImageRecord:
        uri = str(reference)
        declared = sum(layer.size for layer in manifest.layers)
        if declared > self.limits.max_bytes:
            raise ImageTooLarge(uri, f"its layers are {declared} bytes compressed")
        self._ensure_blob(manifest.config, source, uri, self.limits.max_document_bytes)
        config_doc = load_json(
            self.blobs.read(manifest.config.digest), uri, "config", self.limits.max_document_bytes
        )
        config = parse_config(config_doc, uri)
        total = len(manifest.layers)
        size = entries = 0
        for n, layer in enumerate(manifest.layers, start=1):
            progress(n - 1, total, f"layer {layer.digest[7:19]} ({layer.size} bytes)")
            self._ensure_blob(layer, source, uri, layer.size)
            stats = self._ensure_layer(layer.digest, uri)
            size, entries = size + stats.size_bytes, entries + stats.entries
            if size > self.limits.max_bytes:
                raise ImageTooLarge(uri, f"more than {self.limits.max_bytes} bytes uncompressed")
            if entries > self.limits.max_entries:
                raise ImageTooLarge(uri, f"more than {self.limits.max_entries} files")
        progress(total, total, "composing the root filesystem")
        staging = self.root / "rootfs" / f".tmp-{uuid.uuid4().hex}"
        try:
            compose([self._layer_dir(layer.digest) for layer in manifest.layers], staging)
            os.replace(staging, self.rootfs(digest))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self.blobs.put([manifest_bytes], uri, expected=digest)
        record = ImageRecord(
            digest=digest,
            repository=reference.named,
            architecture=config.architecture,
            size_bytes=size,
            config=config.runtime,
            layers=tuple(layer.digest for layer in manifest.layers),
            created=time.time(),
        )
        path = self.root / "images" / f"{digest.split(':', 1)[1]}.json"
        _write_atomic(path, json.dumps(record.to_json()).encode())
        return record

    def _ensure_blob(self, d: Descriptor, source: BlobSource, uri: str, max_size: int) -> None:
        if d.size > max_size:
            raise ImageTooLarge(uri, f"blob {d.digest} is {d.size} bytes")
        with self._locks.held(f"blob:{d.digest}"):
            if not self.blobs.exists(d.digest):
                source.fetch(d, self.blobs, uri)
            if not self.blobs.exists(d.digest):
                raise ImageInvalid(uri, f"blob {d.digest} is missing")

    def _layer_dir(self, digest: str) -> Path:
        return self.root / "layers" / digest.split(":", 1)[1]

    def _ensure_layer(self, digest: str, uri: str) -> LayerStats:
        stats_path = self._layer_dir(digest).with_suffix(".json")
        with self._locks.held(digest):
            if stats_path.exists():
                doc = json.loads(stats_path.read_bytes())
                return LayerStats(size_bytes=doc["size_bytes"], entries=doc["entries"])
            staging = self.root / "layers" / f".tmp-{uuid.uuid4().hex}"
            staging.mkdir()
            try:
                stats = unpack_layer(self.blobs.path(digest), staging, self.limits, uri)
                shutil.rmtree(self._layer_dir(digest), ignore_errors=True)
                os.replace(staging, self._layer_dir(digest))
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            doc = {"size_bytes": stats.size_bytes, "entries": stats.entries}
            _write_atomic(stats_path, json.dumps(doc).encode())
            self.unpacked.append(digest)
            return stats

    def find(self, reference: ImageReference) -> ResolvedImage | None:
        """An image already here: by digest, or by an imported name (any registry
        host in front of it names the same image)."""
        digest = reference.digest or self.name_digest(reference.local_name)
        record = self.record(digest) if digest else None
        return None if record is None else self.resolved(record, reference)

    def require(self, reference: ImageReference) -> ResolvedImage:
        found = self.find(reference)
        if found is None:
            raise ImageNotFound(str(reference))
        return found


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
