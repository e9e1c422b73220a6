"""Input paths and input templates, against the examples of EventBridge's user guide."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lambdad.events.model import InputTransformer, Target
from lambdad.events.targets import target_input
from lambdad.events.transform import (
    MISSING,
    Delivery,
    InvalidPath,
    parse_path,
    render_template,
    resolve,
)

EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING", "tags": [{"k": "a"}, {"k": "b"}]},
}
PATHS = {"timestamp": "$.time", "instance": "$.detail.instance-id", "state": "$.detail.state"}
DELIVERY = Delivery("arn:aws:events:us-east-2:123456789012:rule/example", "example", "now")


def render(template: str) -> Any:
    return json.loads(render_template(template, PATHS, EVENT, DELIVERY))


@pytest.mark.parametrize(
    ("template", "output"),
    [
        ('"instance <instance> is in <state>"', "instance i-0123456789 is in RUNNING"),
        ('"instance \\"<instance>\\" is in <state>"', 'instance "i-0123456789" is in RUNNING'),
        (
            '{"instance" : <instance>, "state": <state>}',
            {"instance": "i-0123456789", "state": "RUNNING"},
        ),
        (
            '{"instance" : <instance>, "state": "<state>", '
            '"instanceStatus": "instance \\"<instance>\\" is in <state>"}',
            {
                "instance": "i-0123456789",
                "state": "RUNNING",
                "instanceStatus": 'instance "i-0123456789" is in RUNNING',
            },
        ),
        (
            '{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}',
            {"instance": "i-0123456789", "state": [9, "RUNNING", True], "Transformed": "Yes"},
        ),
        ('"<aws.events.rule-name> triggered"', "example triggered"),
        ('{"missing": <nope>, "text": "[<nope>]"}', {"missing": None, "text": "[]"}),
    ],
)
def test_documented_templates(template: str, output: Any) -> None:
    paths = {**PATHS, "nope": "$.detail.nothing"}
    assert json.loads(render_template(template, paths, EVENT, DELIVERY)) == output


def test_reserved_variables() -> None:
    out = render(
        '{"ruleArn": <aws.events.rule-arn>, "original": <aws.events.event>, '
        '"whole": <aws.events.event.json>}'
    )
    assert out["ruleArn"] == DELIVERY.rule_arn
    assert out["original"] == {k: v for k, v in EVENT.items() if k != "detail"}
    assert out["whole"] == EVENT


def test_output_is_minified_and_strings_are_escaped() -> None:
    event = {**EVENT, "detail": {"state": 'say "hi"'}}
    out = render_template('{ "s" : "<state>" }', {"state": "$.detail.state"}, event, DELIVERY)
    assert out == b'{"s":"say \\"hi\\""}'


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("$", EVENT),
        ("$.detail", EVENT["detail"]),
        ("$.detail.instance-id", "i-0123456789"),
        ("$.resources[0]", EVENT["resources"][0]),
        ("$['detail-type']", EVENT["detail-type"]),
        ("$.detail.tags[*].k", ["a", "b"]),
        ("$.detail.nothing", MISSING),
        ("$.resources[5]", MISSING),
    ],
)
def test_paths(path: str, value: Any) -> None:
    assert (
        resolve(path, EVENT) == value if value is not MISSING else resolve(path, EVENT) is MISSING
    )


@pytest.mark.parametrize("path", ["detail", "$detail", "$.a..b", "$.a[x]", "$.a b"])
def test_invalid_paths(path: str) -> None:
    with pytest.raises(InvalidPath):
        parse_path(path)


def test_what_a_target_receives() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    assert json.loads(target_input(Target("t", arn), EVENT, DELIVERY)) == EVENT
    assert target_input(Target("t", arn, input='{"a": 1}'), EVENT, DELIVERY) == b'{"a": 1}'
    part = target_input(Target("t", arn, input_path="$.detail.state"), EVENT, DELIVERY)
    assert part == b'"RUNNING"'
    shaped = Target("t", arn, input_transformer=InputTransformer('"<s>"', {"s": "$.detail.state"}))
    assert target_input(shaped, EVENT, DELIVERY) == b'"RUNNING"'
