"""Function names and ARNs in every form AWS accepts.

A FunctionName parameter may be a name (`my-function`), a name with a
qualifier (`my-function:v1`), a partial ARN (`123456789012:function:my-function`)
or a full ARN (`arn:aws:lambda:us-west-2:123456789012:function:my-function`),
each optionally qualified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lambdad.catalog.constraints import Violations
from lambdad.errors import InvalidParameterValue, LambdadError, ResourceNotFound, ValidationError

# botocore's FunctionName pattern (CreateFunction, UpdateFunction*, PublishVersion,
# aliases) and NamespacedFunctionName (GetFunction, Invoke, DeleteFunction, ...),
# as the newest model writes them; anchored by fullmatch.
REGION_PATTERN = r"(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}"
FUNCTION_NAME_PATTERN = (
    rf"(arn:(aws[a-zA-Z-]*)?:lambda:)?({REGION_PATTERN}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
NAMESPACED_FUNCTION_NAME_PATTERN = (
    rf"(arn:(aws[a-zA-Z-]*)?:lambda:)?({REGION_PATTERN}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
_LOCATORS = (
    r"(?:arn:(?P<partition>aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>(?:eusc-)?[a-z]{2}(?:(?:-gov)|(?:-iso[a-z]?))?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?(?:function:)?"
)
_FUNCTION_NAME = re.compile(
    _LOCATORS + r"(?P<name>[a-zA-Z0-9-_]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?"
)
_NAMESPACED_FUNCTION_NAME = re.compile(
    _LOCATORS
    + r"(?P<name>[a-zA-Z0-9-_\.]+)(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
# botocore's TaggableResource.
TAGGABLE_RESOURCE_PATTERN = (
    rf"arn:(aws[a-zA-Z-]*):lambda:{REGION_PATTERN}:\d{{12}}:(function:[a-zA-Z0-9-_]+"
    r"(:(\$LATEST|[a-zA-Z0-9-_]+))?|code-signing-config:csc-[a-z0-9]{17}|"
    r"event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12}|(capacity-provider|network-connector):[a-zA-Z0-9-_]{1,64})"
)
# botocore's NumericLatestPublishedOrAliasQualifier (the Qualifier of GetFunction, Invoke...).
QUALIFIER_RULE = r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"
QUALIFIER_PATTERN = re.compile(QUALIFIER_RULE)
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
        self,
        value: str,
        *,
        member: str = "functionName",
        namespaced: bool = False,
        invalid: type[LambdadError] = ValidationError,
    ) -> FunctionRef:
        """Parse any accepted FunctionName form, or raise AWS's error for it.

        `namespaced` picks botocore's NamespacedFunctionName (GetFunction,
        Invoke, DeleteFunction...) over FunctionName; `invalid` is the error
        class for a bad value (CreateFunction answers InvalidParameterValue).
        """
        violations = Violations()
        match = self._match_function_name(value, violations, member, namespaced)
        if match is None:
            raise invalid(violations.message())
        return match

    def resolve(self, value: str, qualifier: str | None = None) -> FunctionRef:
        """A (namespaced) FunctionName plus an optional Qualifier parameter, reconciled.

        Both are checked before AWS answers: their failures come in one
        ValidationException ("2 validation errors detected: ...").
        """
        violations = Violations()
        ref = self._match_function_name(value, violations, "functionName", namespaced=True)
        if qualifier is not None:
            violations.string(qualifier, "qualifier", 1, 128, QUALIFIER_RULE)
        violations.raise_if_any()
        assert ref is not None
        if qualifier is None:
            return ref
        if ref.qualifier is not None and ref.qualifier != qualifier:
            raise InvalidParameterValue(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        return FunctionRef(ref.name, qualifier)

    def _match_function_name(
        self, value: str, violations: Violations, member: str, namespaced: bool
    ) -> FunctionRef | None:
        """The FunctionRef `value` names, or None with the failure added to `violations`."""
        self._check_reachable(value)
        pattern = NAMESPACED_FUNCTION_NAME_PATTERN if namespaced else FUNCTION_NAME_PATTERN
        max_length = 256 if namespaced else 140
        if not violations.string(value, member, 1, max_length, pattern):
            return None
        match = (_NAMESPACED_FUNCTION_NAME if namespaced else _FUNCTION_NAME).fullmatch(value)
        assert match is not None  # the same pattern, with named groups
        account = match.group("account")
        if account is not None and account != self.account_id:
            # Another account's function is never ours to see.
            raise ResourceNotFound(f"Function not found: {value}")
        name = match.group("name")
        if len(name) > MAX_NAME_LENGTH:
            violations.add(
                value, member, f"Member must have length less than or equal to {MAX_NAME_LENGTH}"
            )
            return None
        return FunctionRef(name=name, qualifier=match.group("qualifier"))

    def _check_reachable(self, value: str) -> None:
        """A full ARN of another region: AWS answers this before validating anything."""
        region = _arn_region(value)
        if region is not None and region != self.region:
            raise ResourceNotFound(
                f"Functions from '{region}' are not reachable in this region ('{self.region}')"
            )

    def parse_function_arn(self, arn: str) -> str:
        """The function name in a taggable resource ARN (TagResource, ListTags...).

        Only an unqualified function ARN is taggable: a version's or alias's is
        refused before anything is looked up, as AWS does.
        """
        violations = Violations()
        if not violations.string(arn, "resource", 1, 10000, TAGGABLE_RESOURCE_PATTERN):
            raise ValidationError(violations.message())
        parts = arn.split(":")
        if parts[5] != "function":
            raise ResourceNotFound(f"Resource not found: {arn}")  # no other taggable kind here
        if len(parts) > 7:
            raise InvalidParameterValue(
                "Tags on function aliases and versions are not supported. Please specify a "
                "function ARN."
            )
        if parts[3] != self.region or parts[4] != self.account_id:
            raise ResourceNotFound(f"Function not found: {arn}")
        return parts[6]


def _arn_region(value: str) -> str | None:
    """The region field of an ARN-shaped value (arn:PARTITION:lambda:REGION:...), if any."""
    parts = value.split(":")
    if len(parts) > 4 and parts[0] == "arn" and parts[2] == "lambda":
        region = parts[3]
        return region if re.fullmatch(REGION_PATTERN, region) else None
    return None


def _constraint(value: object, member: str, rule: str) -> str:
    return (
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {rule}"
    )


def constraint_message(value: object, member: str, rule: str) -> str:
    """AWS's wording for one failed member constraint (a ValidationException)."""
    return _constraint(value, member, rule)
