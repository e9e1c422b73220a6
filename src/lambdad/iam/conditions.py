"""A policy statement's `Condition` block, decided against a request's context keys.

IAM's rules, as its reference ("IAM JSON policy elements: Condition operators",
"Conditions with multiple context keys or values") states them:

- operators AND together, keys under one operator AND together, the values
  listed for one key OR together (NOR for a negated operator);
- a key absent from the request makes a condition false, except for negated
  operators (`StringNotEquals`, `ArnNotLike`, ...), where it is true;
  `...IfExists` is true when the key is absent; `Null` tests presence itself;
- `ForAnyValue:` holds when some request value matches (false for an absent or
  empty key), `ForAllValues:` when every request value matches (true for an
  absent or empty key);
- key names are case-insensitive; `StringLike`/`ArnLike` take `*` and `?`;
  string values may hold policy variables (`${aws:username}`).

An operator this module does not know makes the condition false (a statement
that cannot be understood never grants), which is also what an unknown key
does. Operator names are matched case-sensitively, as IAM does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from lambdad.iam.wildcards import arn_matches, glob_matches

ContextValue = str | Sequence[str]
Context = Mapping[str, ContextValue]
"""Condition keys of one request, names lowercased; a list for multivalued keys."""

Compare = Callable[[str, str, Context], bool]
"""(request value, policy value, context) -> whether they match."""


def conditions_hold(condition: Any, context: Context) -> bool:
    """Whether a statement's `Condition` block holds for the request (absent: yes)."""
    if condition is None:
        return True
    if not isinstance(condition, dict):
        return False
    return all(
        _operator_holds(str(operator), tests, context) for operator, tests in condition.items()
    )


def _operator_holds(operator: str, tests: Any, context: Context) -> bool:
    if not isinstance(tests, dict):
        return False
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
        if qualifier not in ("ForAnyValue", "ForAllValues"):
            return False
    if_exists = operator.endswith("IfExists") and operator != "IfExists"
    base = operator.removesuffix("IfExists") if if_exists else operator
    for key, expected in tests.items():
        texts = [_text(v) for v in (expected if isinstance(expected, list) else [expected])]
        policy_values = [v for v in texts if v is not None]
        if len(policy_values) != len(texts):
            return False
        actual = context.get(str(key).lower())
        values = [] if actual is None else [actual] if isinstance(actual, str) else list(actual)
        if base == "Null":
            holds = any((v.lower() == "true") == (not values) for v in policy_values)
        elif base not in OPERATORS:
            return False
        elif not values:
            holds = _absent_holds(qualifier, OPERATORS[base][1], if_exists)
        else:
            compare, negated = OPERATORS[base]
            holds = _values_hold(qualifier, compare, negated, values, policy_values, context)
        if not holds:
            return False
    return True


def _absent_holds(qualifier: str, negated: bool, if_exists: bool) -> bool:
    """The answer for a key the request does not have (or has with no value)."""
    if qualifier == "ForAllValues":
        return True
    if qualifier == "ForAnyValue":
        return False
    return if_exists or negated


def _values_hold(
    qualifier: str,
    compare: Compare,
    negated: bool,
    values: list[str],
    policy_values: list[str],
    context: Context,
) -> bool:
    def one(value: str) -> bool:
        matched = any(compare(value, expected, context) for expected in policy_values)
        return not matched if negated else matched

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    # ForAnyValue, and a plain operator (a multivalued key without a set
    # operator is read as ForAnyValue).
    return any(one(v) for v in values)


def _text(value: Any) -> str | None:
    """A policy value as IAM reads it: strings, numbers and booleans as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


# -- policy variables -----------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_SPECIAL = {"*": "*", "?": "?", "$": "$"}


def substitute(text: str, context: Context) -> str | None:
    """`text` with `${key}` replaced by the request's value; None when a key is
    absent or multivalued (the value then matches nothing, as in IAM)."""
    if "${" not in text:
        return text
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1)
        if name in _SPECIAL:
            return _SPECIAL[name]
        name, _, default = name.partition(", ")
        value = context.get(name.strip().lower())
        if isinstance(value, str):
            return value
        if default:
            return default.strip().strip("'")
        missing = True
        return ""

    result = _VARIABLE.sub(replace, text)
    return None if missing else result


# -- the operators ---------------------------------------------------------------


def _with_variables(compare: Callable[[str, str], bool]) -> Compare:
    def run(value: str, expected: str, context: Context) -> bool:
        resolved = substitute(expected, context)
        return resolved is not None and compare(value, resolved)

    return run


def _plain(compare: Callable[[str, str], bool]) -> Compare:
    return lambda value, expected, _context: compare(value, expected)


def _number(text: str) -> Decimal | None:
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        return None


def _numeric(test: Callable[[Decimal, Decimal], bool]) -> Compare:
    def run(value: str, expected: str, _context: Context) -> bool:
        left, right = _number(value), _number(expected)
        return left is not None and right is not None and test(left, right)

    return run


@lru_cache(maxsize=1024)
def _date(text: str) -> datetime | None:
    """ISO 8601 (any offset; Z) or epoch seconds, as IAM's Date operators accept."""
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return datetime.fromtimestamp(int(text), UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _dated(test: Callable[[datetime, datetime], bool]) -> Compare:
    def run(value: str, expected: str, _context: Context) -> bool:
        left, right = _date(value), _date(expected)
        return left is not None and right is not None and test(left, right)

    return run


def _bool(value: str, expected: str) -> bool:
    return value.lower() == expected.lower() and value.lower() in ("true", "false")


OPERATORS: dict[str, tuple[Compare, bool]] = {
    # name: (compare, negated)
    "StringEquals": (_with_variables(lambda v, e: v == e), False),
    "StringNotEquals": (_with_variables(lambda v, e: v == e), True),
    "StringEqualsIgnoreCase": (_with_variables(lambda v, e: v.lower() == e.lower()), False),
    "StringNotEqualsIgnoreCase": (_with_variables(lambda v, e: v.lower() == e.lower()), True),
    "StringLike": (_with_variables(lambda v, e: glob_matches(e, v)), False),
    "StringNotLike": (_with_variables(lambda v, e: glob_matches(e, v)), True),
    "NumericEquals": (_numeric(lambda a, b: a == b), False),
    "NumericNotEquals": (_numeric(lambda a, b: a == b), True),
    "NumericLessThan": (_numeric(lambda a, b: a < b), False),
    "NumericLessThanEquals": (_numeric(lambda a, b: a <= b), False),
    "NumericGreaterThan": (_numeric(lambda a, b: a > b), False),
    "NumericGreaterThanEquals": (_numeric(lambda a, b: a >= b), False),
    "DateEquals": (_dated(lambda a, b: a == b), False),
    "DateNotEquals": (_dated(lambda a, b: a == b), True),
    "DateLessThan": (_dated(lambda a, b: a < b), False),
    "DateLessThanEquals": (_dated(lambda a, b: a <= b), False),
    "DateGreaterThan": (_dated(lambda a, b: a > b), False),
    "DateGreaterThanEquals": (_dated(lambda a, b: a >= b), False),
    "Bool": (_plain(_bool), False),
    "ArnEquals": (_with_variables(lambda v, e: arn_matches(e, v)), False),
    "ArnLike": (_with_variables(lambda v, e: arn_matches(e, v)), False),
    "ArnNotEquals": (_with_variables(lambda v, e: arn_matches(e, v)), True),
    "ArnNotLike": (_with_variables(lambda v, e: arn_matches(e, v)), True),
}
