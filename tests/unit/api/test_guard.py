"""Which Host names and Origins the API serves (the rules, without a server)."""

from __future__ import annotations

import pytest

from lambdad.api.guard import HostNames, _host_name, _same_origin, is_function_url_host


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:9000", "localhost"),
        ("[::1]:9000", "::1"),
        ("[::1]", "::1"),
        ("Example.TEST.", "example.test"),
        ("::1", "::1"),  # a bare IPv6 address (no port can be told apart)
        ("", ""),
    ],
)
def test_host_name_drops_the_port(header: str, name: str) -> None:
    assert _host_name(header) == name


def test_specific_listen_address_serves_only_known_names() -> None:
    hosts = HostNames("10.0.0.5", ["api.example.test"])
    assert all(hosts.serves(h) for h in ("localhost", "127.0.0.1", "::1", "10.0.0.5"))
    assert hosts.serves("api.example.test")
    assert not hosts.serves("10.0.0.6")
    assert not hosts.serves("evil.example")


def test_wildcard_listen_address_serves_any_ip_but_only_known_names() -> None:
    hosts = HostNames("0.0.0.0")
    assert hosts.serves("192.168.1.20") and hosts.serves("fe80::1")
    assert not hosts.serves("my-laptop.lan")


@pytest.mark.parametrize(
    ("origin", "host", "same"),
    [
        ("http://localhost:9000", "localhost:9000", True),
        ("https://api.example.test", "api.example.test", True),  # TLS at a proxy
        ("http://localhost:8080", "localhost:9000", False),
        ("http://localhost", "localhost:9000", False),
        ("http://evil.example:9000", "localhost:9000", False),
        ("null", "localhost:9000", False),
        ("http://[::1]:9000", "[::1]:9000", True),
        ("http://localhost:99999", "localhost:9000", False),
    ],
)
def test_same_origin(origin: str, host: str, same: bool) -> None:
    assert _same_origin(origin, host) is same


def test_function_url_hosts() -> None:
    assert is_function_url_host("abc123.lambda-url.us-east-1.localhost")
    assert not is_function_url_host("lambda-url.us-east-1.localhost")
    assert not is_function_url_host("abc.lambda-url.us-east-1.localhost.evil.example")
