"""The limits and rules Lambda applies to a function's configuration.

Each check raises the exception class and message AWS sends for it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from lambdad.catalog.names import constraint_message
from lambdad.errors import InvalidParameterValue, ValidationError
from lambdad.runtimes import RESERVED_VARIABLES

MEMORY_MIN, MEMORY_MAX = 128, 10240
TIMEOUT_MIN, TIMEOUT_MAX = 1, 900
EPHEMERAL_MIN, EPHEMERAL_MAX = 512, 10240
ENVIRONMENT_MAX_BYTES = 4096
DESCRIPTION_MAX = 256
HANDLER_MAX = 128
MAX_LAYERS = 5
MAX_TAGS = 50

ROLE_PATTERN = re.compile(r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
HANDLER_PATTERN = re.compile(r"[^\s]+")
ENV_KEY_PATTERN = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")


def check_range(value: int, member: str, low: int, high: int) -> None:
    if value < low:
        raise ValidationError(
            constraint_message(
                value, member, f"Member must have value greater than or equal to {low}"
            )
        )
    if value > high:
        raise ValidationError(
            constraint_message(
                value, member, f"Member must have value less than or equal to {high}"
            )
        )


def check_memory(value: int) -> None:
    check_range(value, "memorySize", MEMORY_MIN, MEMORY_MAX)


def check_timeout(value: int) -> None:
    check_range(value, "timeout", TIMEOUT_MIN, TIMEOUT_MAX)


def check_ephemeral_storage(value: int) -> None:
    check_range(value, "ephemeralStorage.size", EPHEMERAL_MIN, EPHEMERAL_MAX)


def check_handler(handler: str | None) -> None:
    if not handler:
        raise InvalidParameterValue(
            "Runtime and Handler are mandatory parameters for functions created with "
            "deployment packages."
        )
    if len(handler) > HANDLER_MAX:
        raise ValidationError(
            constraint_message(
                handler, "handler", f"Member must have length less than or equal to {HANDLER_MAX}"
            )
        )
    if not HANDLER_PATTERN.fullmatch(handler):
        raise ValidationError(
            constraint_message(
                handler, "handler", r"Member must satisfy regular expression pattern: [^\s]+"
            )
        )


def check_role(role: str | None) -> None:
    if not role or not ROLE_PATTERN.fullmatch(role):
        raise ValidationError(
            constraint_message(
                role,
                "role",
                "Member must satisfy regular expression pattern: "
                r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+",
            )
        )


def check_description(description: str) -> None:
    if len(description) > DESCRIPTION_MAX:
        raise ValidationError(
            constraint_message(
                description,
                "description",
                f"Member must have length less than or equal to {DESCRIPTION_MAX}",
            )
        )


def check_environment(variables: Mapping[str, str]) -> None:
    for key in variables:
        if not ENV_KEY_PATTERN.fullmatch(key):
            raise ValidationError(
                constraint_message(
                    "[PROTECTED]",
                    "environment.variables",
                    "Member must satisfy constraint: [Member must satisfy regular expression "
                    "pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
                )
            )
    reserved = sorted(k for k in variables if k in RESERVED_VARIABLES)  # the runtime owns them
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided contains reserved keys that are currently not supported "
            f"for modification. Reserved keys used in this request: {', '.join(reserved)}"
        )
    measured = json.dumps(dict(variables), separators=(",", ":"))
    if len(measured.encode()) > ENVIRONMENT_MAX_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided exceeded the 4KB limit. String measured: " + measured
        )


def check_architectures(architectures: Sequence[str]) -> None:
    if len(architectures) != 1 or architectures[0] not in ("x86_64", "arm64"):
        raise ValidationError(
            constraint_message(
                list(architectures),
                "architectures",
                "Member must have length less than or equal to 1, Member must satisfy enum "
                "value set: [x86_64, arm64]",
            )
        )


def check_tags(tags: Mapping[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValue(f"Number of tags exceeds resource tag limit ({MAX_TAGS}).")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise InvalidParameterValue(f"Tag key is not valid: {key}")
        if len(value) > 256:
            raise InvalidParameterValue(f"Tag value is not valid for key: {key}")
