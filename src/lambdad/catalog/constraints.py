"""AWS's member constraints (botocore's min/max/pattern), reported as AWS reports them.

AWS checks every member of a request against its shape before anything else
and answers one ValidationException listing all failures: "2 validation errors
detected: Value 'x' at 'name' failed to satisfy constraint: ...; Value ...".
Within one member the length is checked before the pattern, and only the
first failing rule is named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from lambdad.errors import ValidationError


class Violations:
    """Collects constraint failures of one request; `raise_if_any` reports them together."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, value: object, member: str, rule: str) -> None:
        self.messages.append(
            f"Value {_show(value)} at '{member}' failed to satisfy constraint: {rule}"
        )

    def length(self, value: str | None, member: str, low: int, high: int) -> bool:
        """Check `low <= len(value) <= high`; True when it holds (or value is absent)."""
        if value is None:
            return True
        if len(value) < low:
            self.add(value, member, f"Member must have length greater than or equal to {low}")
            return False
        if len(value) > high:
            self.add(value, member, f"Member must have length less than or equal to {high}")
            return False
        return True

    def pattern(self, value: str | None, member: str, pattern: str) -> bool:
        """Check a full match of botocore's (Java) pattern; True when it holds."""
        if value is None or re.fullmatch(pattern, value):
            return True
        self.add(value, member, f"Member must satisfy regular expression pattern: {pattern}")
        return False

    def string(
        self, value: str | None, member: str, low: int, high: int, pattern: str | None = None
    ) -> bool:
        """Length first, then the pattern, as AWS checks a string member."""
        if not self.length(value, member, low, high):
            return False
        return pattern is None or self.pattern(value, member, pattern)

    def range(self, value: int | float, member: str, low: int, high: int) -> bool:
        if value < low:
            self.add(value, member, f"Member must have value greater than or equal to {low}")
            return False
        if value > high:
            self.add(value, member, f"Member must have value less than or equal to {high}")
            return False
        return True

    def required(self, value: object, member: str) -> bool:
        if value is not None:
            return True
        self.messages.append(
            f"Value null at '{member}' failed to satisfy constraint: Member must not be null"
        )
        return False

    def message(self) -> str:
        count = len(self.messages)
        noun = "error" if count == 1 else "errors"
        return f"{count} validation {noun} detected: " + "; ".join(self.messages)

    def raise_if_any(self) -> None:
        if self.messages:
            raise ValidationError(self.message())


def check_string(value: str, member: str, low: int, high: int, pattern: str | None = None) -> None:
    """One string member checked on its own: AWS's error for its first failing rule."""
    violations = Violations()
    violations.string(value, member, low, high, pattern)
    violations.raise_if_any()


def java_map(values: Mapping[str, float]) -> str:
    """A map as AWS's messages print it: {2=1.5}."""
    return "{" + ", ".join(f"{k}={v}" for k, v in values.items()) + "}"


def _show(value: object) -> str:
    return "null" if value is None else f"'{value}'"
