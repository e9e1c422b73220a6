"""A registry that asks for a Bearer token (WWW-Authenticate) gets one from its
token service, with the pull scope of the repository, and the pull goes on."""

from __future__ import annotations

from pathlib import Path

import httpx

from lambdad.images.limits import ImageLimits
from lambdad.images.reference import parse_reference
from lambdad.images.registry import Registry
from lambdad.images.store import LocalImages
from support.images import build_image, file, layer_tar


def test_bearer_token_flow(tmp_path: Path) -> None:
    built = build_image([layer_tar([file("hello", "world")])])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/token":
            seen.append(str(request.url.params))
            assert request.headers["authorization"].startswith("Basic ")
            return httpx.Response(200, json={"token": "t0k"})
        if request.headers.get("authorization") != "Bearer t0k":
            challenge = (
                'Bearer realm="https://auth.example/token",service="registry.example",'
                'scope="repository:team/app:pull"'
            )
            return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        if path == "/v2/team/app/manifests/v1":
            assert "application/vnd.oci.image.index.v1+json" in request.headers["accept"]
            return httpx.Response(
                200, content=built.manifest, headers={"Content-Type": built_type(built)}
            )
        digest = path.rsplit("/", 1)[-1]
        return httpx.Response(200, content=built.blobs[digest])

    reference = parse_reference("registry.example/team/app:v1")
    registry = Registry.parse("https://user:pw@registry.example")
    source = registry.source(reference, transport=httpx.MockTransport(handler))
    image = LocalImages(tmp_path, ImageLimits()).make_ready(reference, source)
    assert (image.rootfs / "hello").read_text() == "world"
    assert seen and "scope=repository%3Ateam%2Fapp%3Apull" in seen[0]
    assert "service=registry.example" in seen[0]


def built_type(_built: object) -> str:
    return "application/vnd.oci.image.manifest.v1+json"
