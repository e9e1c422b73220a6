"""EventBridge event patterns: checked once (PutRule), then matched against events.

A pattern is a JSON object shaped like the events it matches. Each leaf is an
array of alternatives; a field matches when any alternative matches, and the
pattern matches when every field does (and, for each `$or`, one of its
objects). What an alternative may be, as EventBridge (AWS's Event Ruler)
defines it:

    "x": ["a", 5, true, null]                      exact values (numbers compare by value)
    "x": [{"prefix": "us-"}]                       also {"prefix": {"equals-ignore-case": "Us-"}}
    "x": [{"suffix": ".png"}]                      also {"suffix": {"equals-ignore-case": ".PNG"}}
    "x": [{"equals-ignore-case": "Running"}]
    "x": [{"wildcard": "dir/*.png"}]               `\\*` is a literal star, `\\\\` a backslash
    "x": [{"anything-but": "a"}]                   or a list of strings / of numbers, or
                                                   {"prefix"|"suffix"|"equals-ignore-case"|
                                                    "wildcard": value or list}
    "x": [{"numeric": [">", 0, "<=", 5]}]          one bound, or a lower then an upper one
    "x": [{"exists": true}]                        a leaf value is (not) there
    "x": [{"cidr": "10.0.0.0/24"}]
    "$or": [{...}, {...}]                          two or more alternative sub-patterns

Arrays in events: a leaf matches when any element does; a sub-pattern under
an array of objects must match one element as a whole (the Ruler's
"array-consistent" matching). `exists` sees leaves only: an object is not a
leaf, so `{"exists": false}` matches a field whose value is an object.
Everything here is pure: `compile_pattern` raises `InvalidEventPattern` with
EventBridge's reasons; the result's `matches` takes a decoded event.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lambdad.errors import ValidationError
from lambdad.events.errors import InvalidEventPattern

Json = Any
Check = Callable[[Json], bool]
"""One alternative, applied to one leaf value of the event."""

OPERATORS = frozenset(
    {"prefix", "suffix", "equals-ignore-case", "wildcard", "anything-but", "numeric", "exists"}
    | {"cidr"}
)
ANYTHING_BUT_OPERATORS = frozenset({"prefix", "suffix", "equals-ignore-case", "wildcard"})
LOWER_BOUNDS = frozenset({">", ">="})
UPPER_BOUNDS = frozenset({"<", "<="})
EVENT_FIELDS = frozenset({"id", "account", "source", "time", "region", "resources", "detail-type"})
MAX_WILDCARDS = 5  # past this EventBridge calls a rule "too complex"
_MISSING = object()


@dataclass(frozen=True)
class Leaf:
    """The alternatives of one field: value checks, and `exists` tests."""

    checks: tuple[Check, ...] = ()
    exists: tuple[bool, ...] = ()

    def matches(self, value: Json) -> bool:
        leaves = [] if value is _MISSING else [v for v in _leaves(value) if not isinstance(v, dict)]
        if any(want == bool(leaves) for want in self.exists):
            return True
        return any(check(v) for v in leaves for check in self.checks)


@dataclass(frozen=True)
class Pattern:
    """A compiled (sub-)pattern: fields that must all match, and `$or` groups."""

    fields: tuple[tuple[str, Pattern | Leaf], ...] = ()
    alternatives: tuple[tuple[Pattern, ...], ...] = field(default=())

    def matches(self, event: Json) -> bool:
        if isinstance(event, list):
            # An object pattern over an array: one element must match it as a whole.
            return any(self.matches(item) for item in _flatten(event))
        obj = event if isinstance(event, dict) else {}
        for key, rule in self.fields:
            if not rule.matches(obj.get(key, _MISSING)):
                return False
        return all(any(alt.matches(obj) for alt in group) for group in self.alternatives)


def compile_pattern(text: str) -> Pattern:
    """Parse and check an EventPattern document (PutRule's), or raise EventBridge's error."""
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidEventPattern(f"Filter is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidEventPattern("Filter is not an object")
    return _compile_object(document)


def matches_event(pattern: str, event: str) -> bool:
    """TestEventPattern: whether an event (JSON text, with EventBridge's mandatory
    fields) matches a pattern."""
    compiled = compile_pattern(pattern)
    try:
        document = json.loads(event)
    except (ValueError, RecursionError) as exc:
        raise ValidationError("Parameter Event is not valid.") from exc
    if not isinstance(document, dict) or not EVENT_FIELDS <= document.keys():
        raise ValidationError("Parameter Event is not valid.")
    return compiled.matches(document)


def _compile_object(obj: dict[str, Json]) -> Pattern:
    if not obj:
        raise InvalidEventPattern("Empty objects are not allowed")
    fields: list[tuple[str, Pattern | Leaf]] = []
    alternatives: list[tuple[Pattern, ...]] = []
    for key, value in obj.items():
        if key == "$or" and _is_or(value):
            alternatives.append(tuple(_compile_object(alt) for alt in value))
        elif isinstance(value, dict):
            fields.append((key, _compile_object(value)))
        elif isinstance(value, list):
            fields.append((key, _compile_leaf(value)))
        else:
            raise InvalidEventPattern(f'"{key}" must be an object or an array')
    return Pattern(tuple(fields), tuple(alternatives))


def _is_or(value: Json) -> bool:
    """EventBridge's `$or`: two or more objects, none of them a match expression;
    anything else under "$or" is an ordinary field name (as the Ruler keeps it)."""
    return (
        isinstance(value, list)
        and len(value) >= 2
        and all(isinstance(alt, dict) and not (OPERATORS & alt.keys()) for alt in value)
    )


def _compile_leaf(alternatives: list[Json]) -> Leaf:
    if not alternatives:
        raise InvalidEventPattern("Empty arrays are not allowed")
    checks: list[Check] = []
    exists: list[bool] = []
    for alternative in alternatives:
        if isinstance(alternative, dict):
            operator, operand = _single(alternative)
            if operator == "exists":
                if not isinstance(operand, bool):
                    raise InvalidEventPattern("exists match pattern must be either true or false.")
                exists.append(operand)
            else:
                checks.append(_operator(operator, operand))
        elif _is_scalar(alternative):
            checks.append(_exact(alternative))
        else:
            raise InvalidEventPattern("Match value must be String, number, true, false, or null")
    return Leaf(tuple(checks), tuple(exists))


def _single(expression: dict[str, Json]) -> tuple[str, Json]:
    if len(expression) != 1:
        raise InvalidEventPattern("Only one key allowed in match expression")
    return next(iter(expression.items()))


def _operator(operator: str, operand: Json) -> Check:
    if operator in ("prefix", "suffix"):
        return _affix(operator, operand)
    if operator == "equals-ignore-case":
        folded = _string(operator, operand).lower()
        return lambda v: isinstance(v, str) and v.lower() == folded
    if operator == "wildcard":
        return _wildcard(operand)
    if operator == "anything-but":
        return _anything_but(operand)
    if operator == "numeric":
        return _numeric(operand)
    if operator == "cidr":
        return _cidr(operand)
    raise InvalidEventPattern(f"Unrecognized match type {operator}")


def _affix(operator: str, operand: Json) -> Check:
    """prefix / suffix, optionally {"equals-ignore-case": value}."""
    fold = False
    if isinstance(operand, dict):
        inner, operand = _single(operand)
        if inner != "equals-ignore-case":
            raise InvalidEventPattern(f"Unsupported {operator} pattern: {inner}")
        fold = True
    affix = _string(operator, operand)
    if fold:
        affix = affix.lower()

    def check(v: Json) -> bool:
        if not isinstance(v, str):
            return False
        text = v.lower() if fold else v
        return text.startswith(affix) if operator == "prefix" else text.endswith(affix)

    return check


def _string(operator: str, operand: Json) -> str:
    if not isinstance(operand, str):
        raise InvalidEventPattern(f"{operator} match pattern must be a string")
    return operand


def _wildcard(operand: Json) -> Check:
    """A wildcard match: `*` is any run of characters. Matched segment by segment
    (leftmost, in order), in time linear in the value: no regular expression, whose
    backtracking a hostile event could make take minutes."""
    value = _string("wildcard", operand)
    segments: list[str] = [""]
    i = 0
    while i < len(value):
        char = value[i]
        if char == "\\":
            escaped = value[i + 1 : i + 2]
            if escaped not in ("*", "\\"):
                raise InvalidEventPattern(f"Invalid escape character at pos {i + 1}")
            segments[-1] += escaped
            i += 2
            continue
        if char == "*":
            if value[i + 1 : i + 2] == "*":
                raise InvalidEventPattern(f"Consecutive wildcard characters at pos {i + 1}")
            segments.append("")
        else:
            segments[-1] += char
        i += 1
    if len(segments) - 1 > MAX_WILDCARDS:
        raise InvalidEventPattern(
            "Rule is too complex - try using fewer wildcard characters or fewer repeating "
            "character sequences after a wildcard character"
        )
    return lambda v: isinstance(v, str) and _glob(segments, v)


def _glob(segments: list[str], text: str) -> bool:
    """`text` is segments[0] + anything + segments[1] + ... + anything + segments[-1]."""
    if len(segments) == 1:
        return text == segments[0]
    first, *middle, last = segments
    if len(text) < len(first) + len(last) or not (text.startswith(first) and text.endswith(last)):
        return False
    at, end = len(first), len(text) - len(last)
    for segment in middle:
        found = text.find(segment, at, end)
        if found < 0:
            return False
        at = found + len(segment)
    return True


def _anything_but(operand: Json) -> Check:
    """Anything but a value, a list of them, or a prefix/suffix/case/wildcard match.
    Like every alternative it needs a value: a missing field matches nothing."""
    if isinstance(operand, dict):
        inner, value = _single(operand)
        if inner not in ANYTHING_BUT_OPERATORS:
            raise InvalidEventPattern(f"Unsupported anything-but pattern: {inner}")
        if inner in ("prefix", "suffix"):
            if not isinstance(value, str):
                raise InvalidEventPattern("prefix/suffix match pattern must be a string")
            if not value:
                raise InvalidEventPattern("Null prefix/suffix not allowed")
        values = value if isinstance(value, list) else [value]
        if not values:
            raise InvalidEventPattern("Empty arrays are not allowed")
        if not all(isinstance(v, str) for v in values):
            raise InvalidEventPattern(
                f"Inside anything-but/{inner} list, number|start|null|boolean is not supported."
            )
        excluded = [_operator(inner, v) for v in values]
        return lambda v: not any(check(v) for check in excluded)
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        raise InvalidEventPattern("Empty arrays are not allowed")
    strings = all(isinstance(v, str) for v in values)
    numbers = all(_is_number(v) for v in values)
    if not (strings or numbers):
        if isinstance(operand, list):
            raise InvalidEventPattern(
                "Inside anything but list, start|null|boolean is not supported."
            )
        raise InvalidEventPattern(
            "Value of anything-but must be an array or single string/number value."
        )
    excluded_checks = [_exact(v) for v in values]
    return lambda v: not any(check(v) for check in excluded_checks)


def _numeric(operand: Json) -> Check:
    """[op, n] or [">"/">=", low, "<"/"<=", high]."""
    if not isinstance(operand, list):
        raise InvalidEventPattern("Value of numeric must be an array.")
    terms = list(operand)
    if not terms:
        raise InvalidEventPattern("Invalid member in numeric match: ]")
    first, low = _bound(terms, 0)
    if first not in ("<", "<=", "=", ">", ">="):
        raise InvalidEventPattern(f"Unrecognized numeric range operator: {first}")
    if len(terms) == 2:
        return _comparison(first, low)
    if first not in LOWER_BOUNDS:
        raise InvalidEventPattern("Too many elements in numeric expression")
    second, high = _bound(terms, 2)
    if second not in UPPER_BOUNDS:
        raise InvalidEventPattern(f"Bad numeric range operator: {second}")
    if high <= low:
        raise InvalidEventPattern("Bottom must be less than top")
    if len(terms) > 4:
        raise InvalidEventPattern("Too many terms in numeric range expression")
    above, below = _comparison(first, low), _comparison(second, high)
    return lambda v: above(v) and below(v)


def _bound(terms: list[Json], at: int) -> tuple[str, float]:
    operator = terms[at]
    if not isinstance(operator, str):
        what = "Invalid member in numeric match" if at == 0 else "Bad value in numeric range"
        raise InvalidEventPattern(f"{what}: {json.dumps(operator)}")
    value = terms[at + 1] if at + 1 < len(terms) else None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        name = "equals" if operator == "=" else operator
        raise InvalidEventPattern(f"Value of {name} must be numeric")
    return operator, float(value)


def _comparison(operator: str, bound: float) -> Check:
    compare: dict[str, Callable[[float], bool]] = {
        "<": lambda x: x < bound,
        "<=": lambda x: x <= bound,
        "=": lambda x: x == bound,
        ">": lambda x: x > bound,
        ">=": lambda x: x >= bound,
    }
    test = compare[operator]
    return lambda v: _is_number(v) and test(float(v))


def _cidr(operand: Json) -> Check:
    if not isinstance(operand, str):
        raise InvalidEventPattern("prefix match pattern must be a string")
    address, slash, mask = operand.partition("/")
    if not slash or "/" in mask:
        raise InvalidEventPattern("Malformed CIDR, one '/' required")
    if not mask.isdigit():
        raise InvalidEventPattern("Malformed CIDR, mask bits must be an integer")
    try:
        network = ipaddress.ip_network(operand, strict=False)
    except ValueError as exc:
        raise InvalidEventPattern(f"Nonstandard IP address: {address}") from exc

    def check(v: Json) -> bool:
        if not isinstance(v, str):
            return False
        try:
            return ipaddress.ip_address(v) in network
        except ValueError:
            return False

    return check


def _exact(expected: Json) -> Check:
    if _is_number(expected):
        number = float(expected)
        return lambda v: _is_number(v) and float(v) == number
    if isinstance(expected, bool) or expected is None:
        return lambda v: v is expected
    return lambda v: isinstance(v, str) and v == expected


def _is_number(value: Json) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_scalar(value: Json) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _flatten(values: list[Json]) -> Iterator[Json]:
    """The non-list items of nested lists, in order (a stack, not recursion: an event
    may nest lists as deep as its JSON parser allows)."""
    stack = [iter(values)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            yield value
        else:
            stack.pop()


def _leaves(value: Json) -> Iterator[Json]:
    if isinstance(value, list):
        yield from _flatten(value)
    else:
        yield value
