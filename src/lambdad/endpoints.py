"""The AWS-compatible endpoints functions reach: lambdad's own API and the operator's.

The operator names the services a team runs beside lambdad (S3 on MinIO, SQS,
DynamoDB Local, or one endpoint for all) with `lambdad server --aws-endpoint
URL` / `--aws-endpoint SERVICE=URL` or `LAMBDAD_AWS_ENDPOINTS` (the same
entries, comma-separated). Functions get the SDKs' standard variables:
`AWS_ENDPOINT_URL` for the one-for-all endpoint, `AWS_ENDPOINT_URL_<SERVICE>`
for each service, and `AWS_ENDPOINT_URL_LAMBDA` always, for lambdad itself.

In a sandbox with its own network (mode `none`), each distinct target gets a
loopback port inside that the sandbox relays to exactly that host address
(`sandbox.Forward`), and the variable's URL is rewritten to it: the function
reaches these endpoints and nothing else on the host. Where the sandbox shares
the host's network, the URLs are given as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import SplitResult, urlsplit, urlunsplit

from lambdad.sandbox import Forward

FIRST_PORT = 9010
"""The loopback port inside a sandbox of its first endpoint (lambdad's API); the
Runtime API is on 9001."""
_SERVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,63}$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_WILDCARDS = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


class EndpointSettingError(ValueError):
    """An --aws-endpoint entry that cannot be used (the message says why)."""


@dataclass(frozen=True)
class AwsEndpoints:
    everything: str | None = None
    """The endpoint of every service without one of its own (AWS_ENDPOINT_URL)."""
    services: Mapping[str, str] = field(default_factory=dict)
    """Service id as in AWS_ENDPOINT_URL_<ID> (S3, DYNAMODB, ...) -> endpoint URL."""

    @property
    def s3(self) -> str | None:
        """Where S3 is (the server reads code named by S3Bucket/S3Key there)."""
        return self.services.get("AWS_ENDPOINT_URL_S3", self.everything)


@dataclass(frozen=True)
class EndpointPlan:
    env: dict[str, str]
    forwards: tuple[Forward, ...]


def env_name(service: str) -> str:
    """AWS_ENDPOINT_URL_<ID>: the SDKs' service id, upper-case, spaces and dashes as '_'."""
    return "AWS_ENDPOINT_URL_" + re.sub(r"[ -]", "_", service.strip()).upper()


def parse_aws_endpoints(entries: str) -> AwsEndpoints:
    """`URL` or `SERVICE=URL` entries, comma-separated (the CLI joins repeated flags)."""
    everything: str | None = None
    services: dict[str, str] = {}
    for entry in (e.strip() for e in entries.split(",")):
        if not entry:
            continue
        name, sep, url = entry.partition("=")
        if not sep or "://" in name:
            if everything is not None:
                raise EndpointSettingError(f"two endpoints for every service: {entry!r}")
            everything = _checked_url(entry)
            continue
        if not _SERVICE.match(name.strip()):
            raise EndpointSettingError(f"not a service name: {name!r}")
        key = env_name(name)
        if key == "AWS_ENDPOINT_URL_LAMBDA":
            raise EndpointSettingError("lambda's endpoint is lambdad's own API")
        if key in services:
            raise EndpointSettingError(f"two endpoints for {name.strip()!r}")
        services[key] = _checked_url(url.strip())
    return AwsEndpoints(everything, services)


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise EndpointSettingError(f"not an http(s) URL: {url!r}")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as e:
        raise EndpointSettingError(f"bad port in {url!r}") from e
    if parts.query or parts.fragment or parts.username or parts.password:
        raise EndpointSettingError(f"an endpoint URL has no query, fragment or user: {url!r}")
    return url


def lambda_url(listen_host: str, port: int) -> str:
    """How a client on this host reaches the server that listens on `listen_host`:`port`."""
    host = _WILDCARDS.get(listen_host, listen_host)
    return urlunsplit(("http", f"[{host}]:{port}" if ":" in host else f"{host}:{port}", "", "", ""))


def plan_endpoints(endpoints: AwsEndpoints, own_api: str, *, forwarded: bool) -> EndpointPlan:
    """The variables (and, if `forwarded`, the sandbox's forwards) for these endpoints."""
    wanted: dict[str, str] = {"AWS_ENDPOINT_URL_LAMBDA": own_api, **endpoints.services}
    if endpoints.everything is not None:
        wanted["AWS_ENDPOINT_URL"] = endpoints.everything
    if not forwarded:
        return EndpointPlan(dict(wanted), ())
    ports: dict[tuple[str, int], int] = {}
    env: dict[str, str] = {}
    for name, url in wanted.items():
        parts = urlsplit(url)
        assert parts.hostname is not None  # checked when parsed
        target = (parts.hostname, parts.port or _DEFAULT_PORTS[parts.scheme])
        port = ports.setdefault(target, FIRST_PORT + len(ports))
        env[name] = _rewritten(parts, port)
    forwards = tuple(
        Forward(port, host, target_port) for (host, target_port), port in ports.items()
    )
    return EndpointPlan(env, forwards)


def _rewritten(parts: SplitResult, port: int) -> str:
    return urlunsplit((parts.scheme, f"127.0.0.1:{port}", parts.path, "", ""))
