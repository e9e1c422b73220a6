"""Event patterns against AWS's documented examples: every operator matching and not.

The patterns and events are those of EventBridge's user guide ("Content
filtering in Amazon EventBridge event patterns", "Comparison operators for use
in event patterns", "Arrays in event patterns", "Matching null values and
empty strings") and of the Event Ruler's README, which EventBridge runs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdad.events import InvalidEventPattern, compile_pattern

EC2_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "012345679012",
    "time": "2017-10-02T16:24:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
    "detail": {
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "instance-id": "i-000000aaaaaa00000",
        "state": "running",
    },
}


def detail(**fields: Any) -> dict[str, Any]:
    return {**EC2_EVENT, "detail": fields}


# (name, pattern, event, matches)
CASES: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # Exact values, "and" across fields, "or" within a field.
    (
        "exact",
        {
            "source": ["aws.ec2"],
            "detail-type": ["EC2 Instance State-change Notification"],
            "detail": {"state": ["initializing", "running"]},
        },
        EC2_EVENT,
        True,
    ),
    ("exact-no", {"detail": {"state": ["terminated"]}}, EC2_EVENT, False),
    ("exact-and-one-fails", {"source": ["aws.ec2"], "region": ["eu-west-1"]}, EC2_EVENT, False),
    ("exact-missing-field", {"detail": {"nothing": ["x"]}}, EC2_EVENT, False),
    ("exact-number", {"detail": {"x-limit": [3.018e2]}}, EC2_EVENT, True),
    ("exact-number-vs-string", {"detail": {"c-count": ["5"]}}, EC2_EVENT, False),
    ("exact-case-sensitive", {"source": ["AWS.EC2"]}, EC2_EVENT, False),
    ("null", {"detail": {"responseElements": [None]}}, detail(responseElements=None), True),
    ("null-is-not-empty", {"detail": {"eventVersion": [None]}}, detail(eventVersion=""), False),
    ("empty-string", {"detail": {"eventVersion": [""]}}, detail(eventVersion=""), True),
    ("empty-is-not-null", {"detail": {"eventVersion": [""]}}, detail(eventVersion=None), False),
    ("boolean", {"detail": {"flag": [True]}}, detail(flag=True), True),
    ("boolean-is-not-one", {"detail": {"flag": [True]}}, detail(flag=1), False),
    # Arrays: the pattern and event arrays intersect.
    (
        "array-intersection",
        {
            "resources": [
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
                "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
            ]
        },
        {
            "resources": [
                "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b",
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            ]
        },
        True,
    ),
    ("array-no-intersection", {"resources": ["arn:x"]}, {"resources": ["arn:y", "arn:z"]}, False),
    (
        "array-of-objects",
        {"employees": {"firstName": ["Anna"]}},
        {"employees": [{"firstName": "John"}, {"firstName": "Anna"}]},
        True,
    ),
    (
        "array-of-objects-one-element-as-a-whole",
        {"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}},
        {
            "employees": [
                {"firstName": "Anna", "lastName": "Smith"},
                {"firstName": "Peter", "lastName": "Jones"},
            ]
        },
        False,
    ),
    (
        "nested-arrays",
        {"employees": {"firstName": ["Peter"]}},
        {"employees": [[{"firstName": "John"}], [{"firstName": "Peter"}]]},
        True,
    ),
    # Prefix and suffix, with and without case.
    ("prefix", {"time": [{"prefix": "2017-10-02"}]}, EC2_EVENT, True),
    ("prefix-no", {"time": [{"prefix": "2017-10-03"}]}, EC2_EVENT, False),
    ("prefix-region", {"region": [{"prefix": "eu-"}]}, EC2_EVENT, False),
    ("prefix-only-strings", {"detail": {"c-count": [{"prefix": "5"}]}}, EC2_EVENT, False),
    (
        "prefix-ignore-case",
        {"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}},
        detail(service="eventbridge"),
        True,
    ),
    (
        "prefix-ignore-case-no",
        {"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}},
        detail(service="lambda"),
        False,
    ),
    ("suffix", {"detail": {"FileName": [{"suffix": ".png"}]}}, detail(FileName="a.png"), True),
    ("suffix-no", {"detail": {"FileName": [{"suffix": ".png"}]}}, detail(FileName="a.PNG"), False),
    (
        "suffix-ignore-case",
        {"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}},
        detail(FileName="a.PNG"),
        True,
    ),
    (
        "suffix-ignore-case-no",
        {"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}},
        detail(FileName="a.jpg"),
        False,
    ),
    # equals-ignore-case.
    ("ignore-case", {"source": [{"equals-ignore-case": "AWS.EC2"}]}, EC2_EVENT, True),
    ("ignore-case-no", {"source": [{"equals-ignore-case": "aws.ec"}]}, EC2_EVENT, False),
    # Wildcard.
    (
        "wildcard",
        {"detail": {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}},
        detail(EventBusArn="arn:aws:events:us-east-1:123456789012:event-bus/default"),
        True,
    ),
    (
        "wildcard-no",
        {"detail": {"EventBusArn": [{"wildcard": "arn:aws:events:us-east-1:*:event-bus/*"}]}},
        detail(EventBusArn="arn:aws:events:eu-west-1:123456789012:event-bus/default"),
        False,
    ),
    (
        "wildcard-middle",
        {"source": [{"wildcard": "Simple*Service"}]},
        {"source": "SimpleXService"},
        True,
    ),
    ("wildcard-escaped-star", {"source": [{"wildcard": "a\\*b"}]}, {"source": "a*b"}, True),
    ("wildcard-escaped-star-no", {"source": [{"wildcard": "a\\*b"}]}, {"source": "axb"}, False),
    # Anything-but: values, lists, prefix, suffix, case, wildcard.
    ("anything-but", {"detail": {"state": [{"anything-but": "initializing"}]}}, EC2_EVENT, True),
    (
        "anything-but-no",
        {"detail": {"state": [{"anything-but": "initializing"}]}},
        detail(state="initializing"),
        False,
    ),
    ("anything-but-number", {"detail": {"x-limit": [{"anything-but": 123}]}}, EC2_EVENT, True),
    (
        "anything-but-number-no",
        {"detail": {"x-limit": [{"anything-but": 123}]}},
        detail(**{"x-limit": 123}),
        False,
    ),
    (
        "anything-but-list",
        {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
        EC2_EVENT,
        True,
    ),
    (
        "anything-but-list-no",
        {"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}},
        detail(state="stopped"),
        False,
    ),
    (
        "anything-but-numbers",
        {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}},
        EC2_EVENT,
        True,
    ),
    (
        "anything-but-numbers-no",
        {"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}},
        detail(**{"x-limit": 200.0}),
        False,
    ),
    (
        "anything-but-missing-field",
        {"detail": {"nothing": [{"anything-but": "x"}]}},
        EC2_EVENT,
        False,
    ),
    (
        "anything-but-prefix",
        {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
        EC2_EVENT,
        True,
    ),
    (
        "anything-but-prefix-no",
        {"detail": {"state": [{"anything-but": {"prefix": "init"}}]}},
        detail(state="initializing"),
        False,
    ),
    (
        "anything-but-suffix",
        {"detail": {"FileName": [{"anything-but": {"suffix": ".png"}}]}},
        detail(FileName="a.jpg"),
        True,
    ),
    (
        "anything-but-suffix-no",
        {"detail": {"FileName": [{"anything-but": {"suffix": ".png"}}]}},
        detail(FileName="a.png"),
        False,
    ),
    (
        "anything-but-ignore-case",
        {"detail": {"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}},
        EC2_EVENT,
        True,
    ),
    (
        "anything-but-ignore-case-no",
        {"detail": {"state": [{"anything-but": {"equals-ignore-case": ["initializing", "x"]}}]}},
        detail(state="INITIALIZING"),
        False,
    ),
    (
        "anything-but-wildcard",
        {"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}},
        detail(FilePath="/usr/bin/x"),
        True,
    ),
    (
        "anything-but-wildcard-no",
        {"detail": {"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}},
        detail(FilePath="/usr/lib/x"),
        False,
    ),
    # Numeric.
    (
        "numeric",
        {
            "detail": {
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"numeric": ["=", 3.018e2]}],
            }
        },
        EC2_EVENT,
        True,
    ),
    (
        "numeric-open-top",
        {"detail": {"c-count": [{"numeric": [">", 0, "<", 5]}]}},
        EC2_EVENT,
        False,
    ),
    ("numeric-no", {"detail": {"d-count": [{"numeric": [">=", 4]}]}}, EC2_EVENT, False),
    ("numeric-not-a-string", {"detail": {"s": [{"numeric": [">", 0]}]}}, detail(s="5"), False),
    # Exists: leaves only.
    ("exists", {"detail": {"c-count": [{"exists": True}]}}, EC2_EVENT, True),
    ("exists-no", {"detail": {"e-count": [{"exists": True}]}}, EC2_EVENT, False),
    ("exists-false", {"detail": {"c-count": [{"exists": False}]}}, detail(state="x"), True),
    ("exists-false-no", {"detail": {"c-count": [{"exists": False}]}}, EC2_EVENT, False),
    (
        "exists-false-object-is-no-leaf",
        {"detail": {"c-count": [{"exists": False}]}},
        detail(**{"c-count": {"c1": 100}}),
        True,
    ),
    (
        "exists-true-object-is-no-leaf",
        {"detail": {"c-count": [{"exists": True}]}},
        detail(**{"c-count": {"c1": 100}}),
        False,
    ),
    ("exists-false-no-parent", {"detail": {"c-count": [{"exists": False}]}}, {"source": "x"}, True),
    # IP addresses.
    ("cidr", {"detail": {"source-ip": [{"cidr": "10.0.0.0/24"}]}}, EC2_EVENT, True),
    ("cidr-no", {"detail": {"source-ip": [{"cidr": "10.0.1.0/24"}]}}, EC2_EVENT, False),
    # $or.
    (
        "or",
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization", "ReadLatency"]},
                {"namespace": ["AWS/EC2", "AWS/ES"]},
            ],
        },
        {"source": "aws.cloudwatch", "namespace": "AWS/ES"},
        True,
    ),
    (
        "or-no",
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization", "ReadLatency"]},
                {"namespace": ["AWS/EC2", "AWS/ES"]},
            ],
        },
        {"source": "aws.cloudwatch", "namespace": "AWS/S3", "metricName": "Errors"},
        False,
    ),
    (
        "or-with-and-inside",
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {"metricType": ["MetricType"], "namespace": ["AWS/EC2"]},
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2"},
        True,
    ),
    (
        "or-with-and-inside-no",
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {"metricType": ["MetricType"], "namespace": ["AWS/EC2"]},
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/ES"},
        False,
    ),
    (
        "or-nested",
        {"detail": {"$or": [{"source": ["aws.cloudwatch"]}, {"detail-type": ["Alarm"]}]}},
        {"detail": {"detail-type": "Alarm"}},
        True,
    ),
    # The documented complex example.
    (
        "complex",
        {
            "time": [{"prefix": "2017-10-02"}],
            "detail": {
                "state": [{"anything-but": "initializing"}],
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
                "d-count": [{"numeric": ["<", 10]}],
                "x-limit": [{"anything-but": [100, 200, 300]}],
                "source-ip": [{"cidr": "10.0.0.0/8"}],
            },
        },
        EC2_EVENT,
        True,
    ),
    (
        "complex-no",
        {
            "time": [{"prefix": "2017-10-02"}],
            "detail": {
                "state": [{"anything-but": "running"}],
                "c-count": [{"numeric": [">", 0, "<=", 5]}],
            },
        },
        EC2_EVENT,
        False,
    ),
]


@pytest.mark.parametrize(("name", "pattern", "event", "expected"), CASES, ids=[c[0] for c in CASES])
def test_documented_examples(
    name: str, pattern: dict[str, Any], event: dict[str, Any], expected: bool
) -> None:
    assert compile_pattern(json.dumps(pattern)).matches(event) is expected


def test_every_operator_is_covered_both_ways() -> None:
    names = [c[0] for c in CASES]
    for operator in (
        "exact",
        "prefix",
        "suffix",
        "ignore-case",
        "wildcard",
        "anything-but",
        "anything-but-prefix",
        "anything-but-suffix",
        "anything-but-ignore-case",
        "anything-but-wildcard",
        "numeric",
        "exists",
        "cidr",
        "or",
    ):
        assert operator in names and f"{operator}-no" in names, operator


# (pattern text, EventBridge's reason)
INVALID: list[tuple[str, str]] = [
    ("not json", "Filter is not valid JSON"),
    ("[1]", "Filter is not an object"),
    ('{"detail": {}}', "Empty objects are not allowed"),
    ('{"source": []}', "Empty arrays are not allowed"),
    ('{"source": "aws.ec2"}', '"source" must be an object or an array'),
    ('{"source": [[1]]}', "Match value must be String, number, true, false, or null"),
    ('{"source": [{"prefix": "a", "suffix": "b"}]}', "Only one key allowed in match expression"),
    ('{"source": [{"contains": "a"}]}', "Unrecognized match type contains"),
    ('{"source": [{"prefix": 1}]}', "prefix match pattern must be a string"),
    ('{"source": [{"suffix": ["a"]}]}', "suffix match pattern must be a string"),
    (
        '{"source": [{"equals-ignore-case": 5}]}',
        "equals-ignore-case match pattern must be a string",
    ),
    ('{"source": [{"exists": "yes"}]}', "exists match pattern must be either true or false."),
    ('{"source": [{"wildcard": "a**b"}]}', "Consecutive wildcard characters at pos 2"),
    ('{"source": [{"wildcard": "a\\\\b"}]}', "Invalid escape character at pos 2"),
    ('{"n": [{"numeric": 5}]}', "Value of numeric must be an array."),
    ('{"n": [{"numeric": ["!", 5]}]}', "Unrecognized numeric range operator: !"),
    ('{"n": [{"numeric": [">", "a"]}]}', "Value of > must be numeric"),
    ('{"n": [{"numeric": ["<", 5, ">", 1]}]}', "Too many elements in numeric expression"),
    ('{"n": [{"numeric": [">", 5, "<", 1]}]}', "Bottom must be less than top"),
    ('{"n": [{"numeric": [">", 1, ">", 5]}]}', "Bad numeric range operator: >"),
    (
        '{"n": [{"anything-but": [1, "a"]}]}',
        "Inside anything but list, start|null|boolean is not supported.",
    ),
    (
        '{"n": [{"anything-but": true}]}',
        "Value of anything-but must be an array or single string/number value.",
    ),
    (
        '{"n": [{"anything-but": {"numeric": [">", 1]}}]}',
        "Unsupported anything-but pattern: numeric",
    ),
    ('{"n": [{"anything-but": {"prefix": ""}}]}', "Null prefix/suffix not allowed"),
    ('{"ip": [{"cidr": "10.0.0.0"}]}', "Malformed CIDR, one '/' required"),
    ('{"ip": [{"cidr": "10.0.0.0/x"}]}', "Malformed CIDR, mask bits must be an integer"),
    ('{"ip": [{"cidr": "10.0.0.300/24"}]}', "Nonstandard IP address: 10.0.0.300"),
]


@pytest.mark.parametrize(("text", "reason"), INVALID, ids=[r for _, r in INVALID])
def test_invalid_patterns_get_eventbridges_reason(text: str, reason: str) -> None:
    with pytest.raises(InvalidEventPattern) as exc:
        compile_pattern(text)
    assert exc.value.code == "InvalidEventPatternException"
    assert exc.value.message.startswith("Event pattern is not valid. Reason: ")
    assert exc.value.reason.startswith(reason)


def test_wildcards_match_as_globs() -> None:
    """The linear matcher against a regular expression, on every short string."""
    import itertools
    import re

    for pattern in ["*", "a*", "*a", "a*b", "*a*", "a*a", "*ab*ba*", "ab*b*ba", "a*b*a*b"]:
        regex = re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.DOTALL)
        rule = compile_pattern(json.dumps({"x": [{"wildcard": pattern}]}))
        for length in range(6):
            for chars in itertools.product("ab", repeat=length):
                text = "".join(chars)
                assert rule.matches({"x": text}) is bool(regex.fullmatch(text)), (pattern, text)


def test_deeply_nested_event_arrays() -> None:
    rule = compile_pattern('{"x": ["found"]}')
    deep: Any = "found"
    for _ in range(5000):
        deep = [deep]
    assert rule.matches({"x": deep})
