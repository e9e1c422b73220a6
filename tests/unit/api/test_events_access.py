"""The ARNs an EventBridge request is authorized on, read from its body."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from lambdad.api.events_access import events_checks
from lambdad.catalog import Account
from lambdad.events import EventRules

EVENTS = "arn:aws:events:eu-west-1:000000000000"
CTX = cast(
    Any,
    SimpleNamespace(event_rules=EventRules(Account("eu-west-1", "000000000000"), cast(Any, None))),
)


@pytest.mark.parametrize(
    ("operation", "body", "expected"),
    [
        ("PutRule", b'{"Name": "r"}', [("events:PutRule", [f"{EVENTS}:rule/r"], {})]),
        (
            "PutRule",
            f'{{"Name": "r", "EventBusName": "{EVENTS}:event-bus/b"}}'.encode(),
            [("events:PutRule", [f"{EVENTS}:rule/b/r"], {})],
        ),
        (
            "ListTargetsByRule",
            b'{"Rule": "r"}',
            [("events:ListTargetsByRule", [f"{EVENTS}:rule/r"], {})],
        ),
        (
            "PutTargets",
            b'{"Rule": "r", "Targets": [{"Id": "a", "RoleArn": "R"}, {"Id": "b", "RoleArn": "R"}]}',
            [
                ("events:PutTargets", [f"{EVENTS}:rule/r"], {}),
                ("iam:PassRole", ["R"], {"iam:PassedToService": "events.amazonaws.com"}),
            ],
        ),
        (
            "DescribeEventBus",
            b"{}",
            [("events:DescribeEventBus", [f"{EVENTS}:event-bus/default"], {})],
        ),
        (
            "PutEvents",
            b'{"Entries": [{"EventBusName": "b"}, {}, {"EventBusName": "b"}]}',
            [("events:PutEvents", [f"{EVENTS}:event-bus/b", f"{EVENTS}:event-bus/default"], {})],
        ),
        ("ListRules", b"{}", [("events:ListRules", ["*"], {})]),
        # Unreadable: decided on "*" (a caller allowed only some resources is refused).
        ("PutRule", b"not json", [("events:PutRule", ["*"], {})]),
        ("PutRule", b"{}", [("events:PutRule", ["*"], {})]),
        ("PutRule", b'{"Name": 3}', [("events:PutRule", ["*"], {})]),
        ("PutRule", b'{"Name": "r", "EventBusName": "bad name!"}', [("events:PutRule", ["*"], {})]),
        (
            "PutEvents",
            b'{"Entries": [{"EventBusName": "arn:aws:events:us-east-1:000000000000:event-bus/x"}]}',
            [("events:PutEvents", ["*"], {})],
        ),
    ],
)
def test_checks(operation: str, body: bytes, expected: list[Any]) -> None:
    assert events_checks(CTX, operation, body) == expected
