"""Filter patterns with the examples of AWS's "Filter pattern syntax" page, and the words
each one lets the full-text index look up (never one a match could lack)."""

from __future__ import annotations

import json

import pytest

from lambdad.store.log_index import AllOf, AnyOf, Words, fts5_query, tsquery
from lambdad.telemetry.filter_pattern import parse
from lambdad.telemetry.log_errors import InvalidParameter

AWS_EVENTS = [
    "[ERROR 400] BAD REQUEST",
    "[ERROR 401] UNAUTHORIZED REQUEST",
    "[ERROR 419] MISSING ARGUMENTS",
    "[ERROR 420] INVALID ARGUMENTS",
    "[INFO 200] OK",
    "[WARN 500] INTERNAL SERVER ERROR",
]


def matching(pattern: str, events: list[str] = AWS_EVENTS) -> list[str]:
    parsed = parse(pattern)
    return [event for event in events if parsed.matches(event)]


@pytest.mark.parametrize(
    ("pattern", "indexes"),
    [
        ("ERROR", [0, 1, 2, 3, 5]),
        ("ERROR ARGUMENTS", [2, 3]),
        ("?ERROR ?OK", [0, 1, 2, 3, 4, 5]),
        ("?ARGUMENTS ?OK", [2, 3, 4]),
        ("ERROR -ARGUMENTS", [0, 1, 5]),
        ('"INTERNAL SERVER ERROR"', [5]),
        ('"ERROR 40"', []),
        ("AUTHORIZED", []),  # a whole word: not inside UNAUTHORIZED
        ("%AUTHORIZED%", [1]),  # a regular expression matches anywhere
        ("error", []),  # case sensitive
        ("", [0, 1, 2, 3, 4, 5]),
        (" ", [0, 1, 2, 3, 4, 5]),
        ("[ERROR", [0, 1, 2, 3]),  # punctuation at an edge needs no boundary
    ],
)
def test_terms(pattern: str, indexes: list[int]) -> None:
    assert matching(pattern) == [AWS_EVENTS[i] for i in indexes]


CLOUDTRAIL = json.dumps(
    {
        "eventType": "UpdateTrail",
        "sourceIPAddress": "123.123.123.123",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": None,
        "ThisFlag": True,
        "bandwidth": 75,
        "latency": 50,
    }
)


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ('{ $.eventType = "UpdateTrail" }', True),
        ("{ $.eventType = UpdateTrail }", True),
        ('{ $.eventType = "Update*" }', True),
        ('{ $.eventType != "UpdateTrail" }', False),
        ("{ $.sourceIPAddress = 123.123.* }", True),
        ('{ $.arrayKey[0] = "value" }', True),
        ("{ $.objectList[1].id = 2 }", True),
        ("{ $.SomeObject IS NULL }", True),
        ("{ $.SomeOtherObject NOT EXISTS }", True),
        ("{ $.ThisFlag IS TRUE }", True),
        ("{ $.ThisFlag IS FALSE }", False),
        ("{ $.bandwidth > 75 }", False),
        ("{ $.bandwidth >= 75 && $.latency < 100 }", True),
        ("{ ($.bandwidth > 100) || ($.latency = 50) }", True),
        ("{ $.eventType = %Update[A-Z]% }", True),
        ("{ $.missing = 1 }", False),
    ],
)
def test_json_patterns(pattern: str, matches: bool) -> None:
    assert parse(pattern).matches(CLOUDTRAIL) is matches
    assert parse(pattern).matches("not json { at all") is False


@pytest.mark.parametrize(
    "pattern",
    [
        '"open',
        "%unclosed",
        "%(group)%",
        "{ $.a = }",
        "{ $.a > text }",
        "{ ($.a = 1 }",
        "- ",
        "x" * 1025,
    ],
)
def test_bad_patterns_are_aws_invalid_parameter(pattern: str) -> None:
    with pytest.raises(InvalidParameter):
        parse(pattern)


def test_the_index_is_asked_only_for_words_every_match_holds() -> None:
    assert parse("ERROR -ARGUMENTS").narrowing == Words(("ERROR",))
    assert parse("?ERROR ?%x+%").narrowing is None  # a regex alternative: scan
    assert parse('"INTERNAL SERVER-ERROR"').narrowing == Words(("INTERNAL", "SERVER", "ERROR"))
    both = parse('{ $.level = "ERROR" && $.n > 1 }').narrowing
    assert both == Words(("ERROR",))
    assert parse('{ $.level = "a\\"b" }').narrowing is None  # escaped in JSON text
    assert parse('{ $.level = "ERR*" }').narrowing is None
    either = parse("?A ?B").narrowing
    assert either == AnyOf((Words(("A",)), Words(("B",))))
    assert fts5_query(AllOf((Words(("a", "b")), AnyOf((Words(("c",)), Words(("d",))))))) == (
        '("a" AND "b") AND (("c") OR ("d"))'
    )
    assert tsquery(AnyOf((Words(("it's",)), Words(("x",))))) == "('it''s') | ('x')"
