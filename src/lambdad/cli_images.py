"""`lambdad images`: import container images from archives, list and remove them.

They go through the server's API (`/_lambdad/images`, signed like every other
command): the server owns the data dir the images are unpacked into. An archive
streams to the server (never held in memory), signed by the SHA-256 the request
declares (`x-amz-content-sha256`), which the server checks as the body ends.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

IMAGES = "/_lambdad/images"
CHUNK = 1024 * 1024

_endpoint = click.option(
    "--endpoint",
    envvar="LAMBDAD_ENDPOINT",
    default=None,
    help="URL of the lambdad server.  [default: http://127.0.0.1:9000]",
)


def _client(endpoint: str | None) -> Any:
    from lambdad.cli import DEFAULT_ENDPOINT, Client

    return Client(endpoint or DEFAULT_ENDPOINT)


def _progress(verb: str) -> Progress:
    return Progress(
        TextColumn(f"{verb} {{task.description}}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        disable=not sys.stderr.isatty(),
        console=Console(stderr=True),
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with _progress("hashing") as progress, path.open("rb") as f:
        task = progress.add_task(path.name, total=path.stat().st_size)
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            progress.advance(task, len(chunk))
    return digest.hexdigest()


def _chunks(path: Path, progress: Progress) -> Iterator[bytes]:
    task = progress.add_task(path.name, total=path.stat().st_size)
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            progress.advance(task, len(chunk))
            yield chunk


@click.group()
def images() -> None:
    """Container images that functions name by ImageUri."""


@images.command("import")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", required=True, help="The image's name, REPOSITORY[:TAG] (tag: latest).")
@_endpoint
def import_image(archive: Path, name: str, endpoint: str | None) -> None:
    """Import ARCHIVE (an OCI image layout in a tar, or `docker save`'s tarball).

    Functions then name it by ImageUri NAME, or with any registry host in front
    (e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/NAME).
    """
    from lambdad.client_signing import DeclaredPayloadSigV4Auth

    client = _client(endpoint)
    headers = {
        "Content-Type": "application/x-tar",
        "Content-Length": str(archive.stat().st_size),
        "x-amz-content-sha256": _sha256(archive),
    }
    auth = client.http.auth
    streamed = DeclaredPayloadSigV4Auth.like(auth) if auth is not None else None
    started = time.monotonic()
    with _progress("sending") as progress:
        response = client.call(
            "POST",
            IMAGES,
            params={"name": name},
            content=_chunks(archive, progress),
            headers=headers,
            auth=streamed,
        )
    image = response.json()
    click.echo(
        f"imported {image['ImageUri']} ({image['Architecture']}, {image['SizeBytes']} bytes "
        f"unpacked) as {image['ResolvedImageUri']} in {time.monotonic() - started:.1f}s"
    )


@images.command("pull")
@click.argument("image_uri")
@_endpoint
def pull_image(image_uri: str, endpoint: str | None) -> None:
    """Resolve IMAGE_URI now, as CreateFunction will (pulled from the server's
    --image-registry when it is not here yet): check it, or have it ready."""
    started = time.monotonic()
    image = _client(endpoint).call("POST", f"{IMAGES}/pull", params={"uri": image_uri}).json()
    click.echo(
        f"{image['ImageUri']} is {image['ResolvedImageUri']} ({image['Architecture']}, "
        f"{image['SizeBytes']} bytes unpacked; {time.monotonic() - started:.1f}s)"
    )


@images.command("ls")
@_endpoint
def list_images(endpoint: str | None) -> None:
    """List the images here: imported ones by name, pulled ones by repository."""
    found = _client(endpoint).call("GET", IMAGES).json()["Images"]
    rows = [("NAMES", "REPOSITORY", "DIGEST", "ARCH", "SIZE")]
    for image in found:
        rows.append(
            (
                ",".join(image.get("Names", [])) or "-",
                image["Repository"],
                image["Digest"][:19],
                image["Architecture"],
                f"{image['SizeBytes'] / 1e6:.1f}MB",
            )
        )
    # Plain columns, never cut to the terminal's width: names and repositories are long.
    widths = [max(len(row[n]) for row in rows) for n in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


@images.command("rm")
@click.argument("name")
@click.option(
    "--force",
    is_flag=True,
    help="Remove it although functions run it: they fail then (State Failed, StateReasonCode "
    "ImageDeleted), as on AWS when a function's image is deleted.",
)
@_endpoint
def remove_image(name: str, force: bool, endpoint: str | None) -> None:
    """Remove the image name NAME (REPOSITORY[:TAG]), or a pulled image by its
    sha256: digest. The image's files go when no name is left for it; an image
    that functions run is refused, as `docker rmi` refuses one in use, unless --force."""
    params = {"name": name, **({"force": "true"} if force else {})}
    _client(endpoint).call("DELETE", IMAGES, params=params)
    click.echo(f"removed {name}")
