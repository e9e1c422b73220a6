"""Egress routes: the host's loopback, private ranges and own addresses are closed."""

from __future__ import annotations

from ipaddress import IPv4Network

import pytest

from lambdad.sandbox.egress import EgressPolicy, parse_allowed, route_commands


def prohibited(policy: EgressPolicy) -> list[str]:
    return [line.split()[-1] for line in route_commands(policy) if " prohibit " in line]


def test_private_ranges_and_the_hosts_addresses_are_prohibited() -> None:
    blocked = prohibited(EgressPolicy(host_addresses=(IPv4Network("192.0.2.2/32"),)))
    for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8",
                "169.254.0.0/16", "100.64.0.0/10", "192.0.2.2/32"):  # fmt: skip
        assert net in blocked


def test_an_address_inside_a_blocked_range_is_not_listed_twice() -> None:
    blocked = prohibited(EgressPolicy(host_addresses=(IPv4Network("10.1.1.1/32"),)))
    assert "10.1.1.1/32" not in blocked and "10.0.0.0/8" in blocked


def test_the_operator_cuts_holes() -> None:
    policy = EgressPolicy(allowed=parse_allowed("10.9.8.0/24, 192.168.0.0/16"))
    lines = route_commands(policy)
    assert "route add 10.9.8.0/24 via 10.0.2.2" in lines
    assert "10.0.0.0/8" in prohibited(policy)  # the rest of 10/8 stays closed
    assert "192.168.0.0/16" not in prohibited(policy)  # allowed whole


def test_bad_cidrs_are_refused() -> None:
    with pytest.raises(ValueError):
        parse_allowed("10.0.0.0/33")
    assert parse_allowed("") == ()
