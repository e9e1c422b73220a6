"""What a target receives: the event, its `Input`, an `InputPath` of it, or an `InputTransformer`.

EventBridge's JSON paths are a subset of JSONPath: `$`, dot notation
(`$.detail.instance-id`), bracketed names (`$['a b']`), array indices
(`$.list[0]`) and wildcards (`$.list[*]`, `$.detail.*`, which give a list).

An input template names variables as `<name>`: the InputPathsMap's, and the
predefined `aws.events.rule-arn`, `aws.events.rule-name`,
`aws.events.event.ingestion-time`, `aws.events.event` (the event without its
detail) and `aws.events.event.json` (the whole event). Outside quotes a
variable becomes its JSON value (`{"state": <state>}` gives `{"state":
"RUNNING"}`); inside a JSON string its text (`"is <state>"` gives `"is
RUNNING"`). A path that finds nothing gives no text in a string and `null`
elsewhere. A result that is JSON is passed on minified, as EventBridge does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Json = Any
MISSING: Any = object()
PREDEFINED = ("aws.events.rule-arn", "aws.events.rule-name", "aws.events.event.ingestion-time")
PREDEFINED_EVENT = ("aws.events.event", "aws.events.event.json")
_STEP = re.compile(
    r"\.(?P<name>[A-Za-z0-9_\-/@:]+)"
    r"|\.(?P<dot_star>\*)"
    r"|\[(?P<index>\d+)\]"
    r"|\[(?P<star>\*)\]"
    r"|\['(?P<quoted>[^']*)'\]"
    r'|\["(?P<double>[^"]*)"\]'
)
_VARIABLE = re.compile(r"<([A-Za-z0-9_\-.]+)>")


class InvalidPath(ValueError):
    """A JSON path EventBridge does not accept."""


@dataclass(frozen=True)
class Step:
    kind: str  # "name", "index" or "star"
    key: str | int = ""


def parse_path(path: str) -> tuple[Step, ...]:
    """The steps of a JSON path, or InvalidPath."""
    if not path.startswith("$"):
        raise InvalidPath(path)
    steps: list[Step] = []
    at = 1
    while at < len(path):
        match = _STEP.match(path, at)
        if match is None:
            raise InvalidPath(path)
        if match.group("index") is not None:
            steps.append(Step("index", int(match.group("index"))))
        elif match.group("dot_star") or match.group("star"):
            steps.append(Step("star"))
        else:
            names = (match.group("name"), match.group("quoted"), match.group("double"))
            steps.append(Step("name", next(n for n in names if n is not None)))
        at = match.end()
    return tuple(steps)


def resolve(path: str, document: Json) -> Json:
    """The value at `path` in `document`, or MISSING."""
    values = [document]
    wildcard = False
    for step in parse_path(path):
        found: list[Json] = []
        for value in values:
            if step.kind == "name" and isinstance(value, dict) and step.key in value:
                found.append(value[step.key])
            elif step.kind == "index" and isinstance(value, list):
                index = int(step.key)
                if index < len(value):
                    found.append(value[index])
            elif step.kind == "star":
                wildcard = True
                if isinstance(value, dict):
                    found.extend(value.values())
                elif isinstance(value, list):
                    found.extend(value)
        values = found
    if wildcard:
        return values
    return values[0] if values else MISSING


@dataclass(frozen=True)
class Delivery:
    """The facts a template may name besides the event's own fields."""

    rule_arn: str
    rule_name: str
    ingestion_time: str


def render_template(
    template: str, paths: Mapping[str, str], event: Mapping[str, Json], delivery: Delivery
) -> bytes:
    """An InputTransformer's output for `event` (see the module doc)."""
    values: dict[str, Json] = {name: resolve(path, event) for name, path in paths.items()}
    values["aws.events.rule-arn"] = delivery.rule_arn
    values["aws.events.rule-name"] = delivery.rule_name
    values["aws.events.event.ingestion-time"] = delivery.ingestion_time
    values["aws.events.event"] = {k: v for k, v in event.items() if k != "detail"}
    values["aws.events.event.json"] = dict(event)
    out: list[str] = []
    in_string = False
    at = 0
    while at < len(template):
        char = template[at]
        match = _VARIABLE.match(template, at) if char == "<" else None
        if match is not None and match.group(1) in values:
            out.append(_text(values[match.group(1)], in_string))
            at = match.end()
            continue
        if char == "\\" and in_string:
            out.append(template[at : at + 2])
            at += 2
            continue
        if char == '"':
            in_string = not in_string
        out.append(char)
        at += 1
    return _minified("".join(out))


def _text(value: Json, in_string: bool) -> str:
    if value is MISSING:
        return "" if in_string else "null"
    if not in_string:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return json.dumps(text, ensure_ascii=False)[1:-1]  # escaped for its place in a string


def _minified(text: str) -> bytes:
    try:
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False).encode()
    except ValueError:
        return text.encode()


def check_template_variables(paths: Mapping[str, str]) -> str | None:
    """Why an InputPathsMap is refused, or None: names the predefined ones, or a bad path."""
    for name, path in paths.items():
        if name in PREDEFINED or name in PREDEFINED_EVENT or name.startswith("aws."):
            return f"Input path key {name} is reserved."
        try:
            parse_path(path)
        except InvalidPath:
            return f"Input path {path} for key {name} is not valid."
    return None
