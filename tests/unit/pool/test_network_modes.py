"""A function narrows the server's network mode with LAMBDAD_NETWORK, never widens it."""

from __future__ import annotations

import pytest

from lambdad.pool.launcher import narrowed


@pytest.mark.parametrize(
    ("server", "requested", "expected"),
    [
        ("none", None, "none"),
        ("egress", None, "egress"),
        ("host", "none", "none"),
        ("host", "egress", "egress"),
        ("egress", "none", "none"),
        ("egress", "host", "egress"),  # wider: the server's
        ("none", "egress", "none"),
        ("host", " Egress ", "egress"),
        ("egress", "bogus", "egress"),
    ],
)
def test_narrowing(server: str, requested: str | None, expected: str) -> None:
    assert narrowed(server, requested) == expected
