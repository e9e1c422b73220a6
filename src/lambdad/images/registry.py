"""Pulling from the operator's OCI registries (the distribution API over httpx).

`--image-registry URL` (repeatable; LAMBDAD_IMAGE_REGISTRIES, comma-separated)
names the default registry; `--image-registry HOST=URL` sends the ImageUris that
name HOST (e.g. an ECR host `123456789012.dkr.ecr.us-east-1.amazonaws.com`, or
`registry.example:5000`) to URL instead. Plain `http://` is allowed for loopback
hosts only: anything else would hand code to whoever sits on the path. A URL may
carry `user:password@` for registries that want credentials (Basic, or for the
token endpoint of a Bearer challenge).

Manifests are asked for with every media type the store understands (an index
or docker's manifest list is answered with one, and the store picks the
platform); blobs stream into the blob store, verified against their digest.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import httpx

from lambdad.images.blobs import ImageBlobs
from lambdad.images.errors import ImageInvalid, ImageNotFound, RegistryUnavailable
from lambdad.images.manifest import INDEX_TYPES, MANIFEST_TYPES, Descriptor
from lambdad.images.reference import ImageReference

ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class RegistrySettingError(ValueError):
    pass


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Registry:
    url: str  # scheme://host[:port], no credentials
    username: str = ""
    password: str = ""

    @classmethod
    def parse(cls, text: str) -> Registry:
        parts = urlsplit(text.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistrySettingError(f"{text!r} is not an http(s) URL of a registry")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise RegistrySettingError(
                f"{parts.hostname} is not a loopback host: use https:// for it "
                "(plain http is allowed on loopback only)"
            )
        netloc = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        if parts.port:
            netloc += f":{parts.port}"
        url = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        return cls(url, parts.username or "", parts.password or "")

    def source(
        self,
        reference: ImageReference,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> RegistrySource:
        return RegistrySource(self, reference.repository, timeout_s, transport)


@dataclass
class Registries:
    default: Registry | None = None
    by_host: dict[str, Registry] = field(default_factory=dict)

    def for_host(self, host: str) -> Registry | None:
        return self.by_host.get(host.lower(), self.default)

    @property
    def configured(self) -> bool:
        return self.default is not None or bool(self.by_host)


def parse_registries(text: str) -> Registries:
    """ "URL" (the default registry) and "HOST=URL" entries, comma-separated."""
    registries = Registries()
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        host, sep, url = entry.partition("=")
        if sep and "://" not in host:
            registries.by_host[host.strip().lower()] = Registry.parse(url)
        elif registries.default is not None:
            raise RegistrySettingError("only one default registry (URL without HOST=)")
        else:
            registries.default = Registry.parse(entry)
    return registries


class RegistrySource:
    """One repository of one registry: its manifests and blobs."""

    def __init__(
        self,
        registry: Registry,
        repository: str,
        timeout_s: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.registry, self.repository = registry, repository
        self.http = httpx.Client(
            base_url=registry.url,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
            follow_redirects=True,
            transport=transport,
        )
        self.token: str | None = None

    def close(self) -> None:
        self.http.close()

    def manifest(self, reference: str, image_uri: str) -> tuple[bytes, str]:
        path = f"/v2/{self.repository}/manifests/{reference}"
        with self._get(path, image_uri, {"Accept": ACCEPT}) as response:
            data = b""
            for chunk in response.iter_bytes():
                data += chunk
                if len(data) > MAX_MANIFEST_BYTES:
                    raise ImageInvalid(image_uri, "the manifest is larger than 4 MiB")
            return data, response.headers.get("content-type", "")

    def fetch(self, descriptor: Descriptor, blobs: ImageBlobs, image_uri: str) -> None:
        path = f"/v2/{self.repository}/blobs/{descriptor.digest}"
        with self._get(path, image_uri, {}) as response:
            chunks = self._chunks(response, image_uri)
            blobs.put(chunks, image_uri, expected=descriptor.digest, max_size=descriptor.size)

    def _chunks(self, response: httpx.Response, image_uri: str) -> Iterator[bytes]:
        try:
            yield from response.iter_bytes(1 << 20)
        except httpx.HTTPError as e:
            raise RegistryUnavailable(image_uri, f"the download broke off ({e})") from None

    def _get(self, path: str, image_uri: str, headers: dict[str, str]) -> _Streamed:
        for attempt in range(2):
            request = self.http.build_request("GET", path, headers=self._auth(headers))
            try:
                response = self.http.send(request, stream=True)
            except httpx.HTTPError as e:
                raise RegistryUnavailable(image_uri, f"{self.registry.url}: {e}") from None
            if response.status_code == 401 and attempt == 0:
                challenge = response.headers.get("www-authenticate", "")
                response.close()
                self._authenticate(challenge, image_uri)
                continue
            if response.status_code == 200:
                return _Streamed(response)
            response.close()
            if response.status_code == 404:
                raise ImageNotFound(image_uri)
            if response.status_code in (401, 403):
                raise RegistryUnavailable(image_uri, f"the registry denied access ({path})")
            raise RegistryUnavailable(
                image_uri, f"the registry answered {response.status_code} for {path}"
            )
        raise RegistryUnavailable(image_uri, "the registry asked for authentication again")

    def _auth(self, headers: dict[str, str]) -> dict[str, str]:
        if self.token is not None:
            return {**headers, "Authorization": f"Bearer {self.token}"}
        return headers

    def _authenticate(self, challenge: str, image_uri: str) -> None:
        scheme, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(params_text))
        basic = (self.registry.username, self.registry.password)
        if scheme.lower() == "basic" and self.registry.username:
            self.http.auth = httpx.BasicAuth(*basic)
            return
        if scheme.lower() != "bearer" or "realm" not in params:
            raise RegistryUnavailable(image_uri, "the registry wants credentials lambdad lacks")
        query = {"scope": f"repository:{self.repository}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        try:
            response = self.http.get(
                params["realm"],
                params=query,
                auth=httpx.BasicAuth(*basic) if self.registry.username else None,
            )
            body = response.json() if response.status_code == 200 else {}
        except (httpx.HTTPError, ValueError) as e:
            raise RegistryUnavailable(image_uri, f"the token service failed ({e})") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise RegistryUnavailable(image_uri, "the token service gave no token")
        self.token = token


class _Streamed:
    """A streamed response closed on leaving the `with`."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    def __enter__(self) -> httpx.Response:
        return self.response

    def __exit__(self, *exc: object) -> None:
        self.response.close()
