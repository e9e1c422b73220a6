"""Function names and ARNs in every form AWS accepts.

A FunctionName parameter may be a name (`my-function`), a name with a
qualifier (`my-function:v1`), a partial ARN (`123456789012:function:my-function`)
or a full ARN (`arn:aws:lambda:us-west-2:123456789012:function:my-function`),
each optionally qualified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdad.errors import InvalidParameterValue, ResourceNotFound, ValidationError

# botocore's FunctionName / NamespacedFunctionName patterns, anchored.
FUNCTION_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
_FUNCTION_NAME = re.compile(
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>[a-z]{2}(?:(?:-gov)|(?:-iso[a-z]?))?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?(?P<name>[a-zA-Z0-9-_]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?"
)
QUALIFIER_PATTERN = re.compile(r"\$LATEST|[a-zA-Z0-9-_]+")
MAX_NAME_LENGTH = 64


@dataclass(frozen=True)
class FunctionRef:
    """What a FunctionName parameter points at: a name and maybe a qualifier."""

    name: str
    qualifier: str | None = None


@dataclass(frozen=True)
class Account:
    region: str
    account_id: str

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        arn = f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"
        return arn if qualifier is None else f"{arn}:{qualifier}"

    def parse_function_name(
        self, value: str, *, member: str = "functionName", max_length: int = 140
    ) -> FunctionRef:
        """Parse any accepted FunctionName form, or raise AWS's error for it."""
        if not 1 <= len(value) <= max_length:
            raise ValidationError(
                _constraint(
                    value, member, f"Member must have length less than or equal to {max_length}"
                )
                if value
                else _constraint(
                    value, member, "Member must have length greater than or equal to 1"
                )
            )
        match = _FUNCTION_NAME.fullmatch(value)
        if match is None:
            raise ValidationError(
                _constraint(
                    value,
                    member,
                    f"Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}",
                )
            )
        region, account = match.group("region"), match.group("account")
        if (
            region is not None
            and region != self.region
            or (account is not None and account != self.account_id)
        ):
            # Another account's or region's function is never ours to see.
            raise ResourceNotFound(f"Function not found: {value}")
        name = match.group("name")
        if len(name) > MAX_NAME_LENGTH:
            raise ValidationError(
                _constraint(
                    value,
                    member,
                    f"Member must have length less than or equal to {MAX_NAME_LENGTH}",
                )
            )
        return FunctionRef(name=name, qualifier=match.group("qualifier"))

    def resolve(self, value: str, qualifier: str | None = None) -> FunctionRef:
        """A FunctionName plus an optional Qualifier parameter, reconciled."""
        ref = self.parse_function_name(value)
        if qualifier is None:
            return ref
        if not QUALIFIER_PATTERN.fullmatch(qualifier) or len(qualifier) > 128:
            raise ValidationError(
                _constraint(
                    qualifier,
                    "qualifier",
                    "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)",
                )
            )
        if ref.qualifier is not None and ref.qualifier != qualifier:
            raise InvalidParameterValue(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        return FunctionRef(ref.name, qualifier)

    def parse_function_arn(self, arn: str) -> str:
        """The function name in a resource ARN (TagResource and friends)."""
        prefix = f"arn:aws:lambda:{self.region}:{self.account_id}:function:"
        match = re.fullmatch(
            r"arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:function:[a-zA-Z0-9-_]+(:.*)?", arn
        )
        if match is None:
            raise ValidationError(
                _constraint(
                    arn,
                    "resource",
                    "Member must satisfy regular expression pattern: "
                    r"arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:"
                    r"\d{12}:(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:...)",
                )
            )
        if not arn.startswith(prefix):
            raise ResourceNotFound(f"Function not found: {arn}")
        return arn[len(prefix) :].split(":", 1)[0]


def _constraint(value: object, member: str, rule: str) -> str:
    return (
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {rule}"
    )


def constraint_message(value: object, member: str, rule: str) -> str:
    """AWS's wording for one failed member constraint (a ValidationException)."""
    return _constraint(value, member, rule)
