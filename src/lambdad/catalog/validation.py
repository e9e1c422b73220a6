"""The limits and rules Lambda applies to a function's configuration.

Each check raises the exception class and message AWS sends for it: the
model's member constraints first, together (ValidationException), then
Lambda's own rules (InvalidParameterValueException).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from lambdad.catalog.constraints import Violations
from lambdad.catalog.model import FunctionConfig, LoggingConfig
from lambdad.catalog.snapstart import check_apply_on
from lambdad.errors import InvalidParameterValue
from lambdad.runtimes import RESERVED_VARIABLES

MEMORY_MIN, MEMORY_MAX = 128, 10240
TIMEOUT_MIN, TIMEOUT_MAX = 1, 900
EPHEMERAL_MIN, EPHEMERAL_MAX = 512, 10240
ENVIRONMENT_MAX_BYTES = 4096
DESCRIPTION_MAX = 256
HANDLER_MAX = 128
MAX_LAYERS = 5
MAX_TAGS = 50

ROLE_RULE = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
HANDLER_RULE = r"[^\s]+"
ARCHITECTURES = ("x86_64", "arm64")
ENV_KEY_PATTERN = re.compile(r"[a-zA-Z]([a-zA-Z0-9_])+")
LOG_FORMATS = ("JSON", "Text")
APPLICATION_LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
SYSTEM_LOG_LEVELS = ("DEBUG", "INFO", "WARN")
LOG_GROUP_RULE = r"[\.\-_/#A-Za-z0-9]+"


def check_range(value: int, member: str, low: int, high: int) -> None:
    violations = Violations()
    violations.range(value, member, low, high)
    violations.raise_if_any()


def check_memory(value: int) -> None:
    check_range(value, "memorySize", MEMORY_MIN, MEMORY_MAX)


def check_timeout(value: int) -> None:
    check_range(value, "timeout", TIMEOUT_MIN, TIMEOUT_MAX)


def check_ephemeral_storage(value: int) -> None:
    check_range(value, "ephemeralStorage.size", EPHEMERAL_MIN, EPHEMERAL_MAX)


def check_description(description: str) -> None:
    violations = Violations()
    violations.length(description, "description", 0, DESCRIPTION_MAX)
    violations.raise_if_any()


def check_members(config: FunctionConfig) -> None:
    """The constraints of botocore's model on a function's configuration, all at once.

    AWS reports every failing member in one ValidationException ("3 validation
    errors detected: ..."), in the order of the request shape's members.
    """
    violations = Violations()
    if violations.required(config.role or None, "role"):
        violations.pattern(config.role, "role", ROLE_RULE)
    if config.handler:
        violations.string(config.handler, "handler", 1, HANDLER_MAX, HANDLER_RULE)
    violations.length(config.description, "description", 0, DESCRIPTION_MAX)
    violations.range(config.timeout, "timeout", TIMEOUT_MIN, TIMEOUT_MAX)
    violations.range(config.memory_size, "memorySize", MEMORY_MIN, MEMORY_MAX)
    _environment_keys(config.environment, violations)
    _architectures(config.architectures, violations)
    violations.range(
        config.ephemeral_storage, "ephemeralStorage.size", EPHEMERAL_MIN, EPHEMERAL_MAX
    )
    check_apply_on(config.snap_start, violations)
    _logging(config.logging, violations)
    violations.raise_if_any()


def _logging(logging: LoggingConfig | None, violations: Violations) -> None:
    if logging is None:
        return
    for value, member, allowed in (
        (logging.log_format, "loggingConfig.logFormat", LOG_FORMATS),
        (
            logging.application_log_level,
            "loggingConfig.applicationLogLevel",
            APPLICATION_LOG_LEVELS,
        ),
        (logging.system_log_level, "loggingConfig.systemLogLevel", SYSTEM_LOG_LEVELS),
    ):
        if value is not None and value not in allowed:
            violations.add(
                value, member, f"Member must satisfy enum value set: [{', '.join(allowed)}]"
            )
    violations.string(logging.log_group, "loggingConfig.logGroup", 1, 512, LOG_GROUP_RULE)


def check_logging(logging: LoggingConfig | None) -> None:
    """Lambda's rule beyond the members': log levels are for JSON logs only."""
    if logging is None or logging.log_format == "JSON":
        return
    if logging.application_log_level is not None or logging.system_log_level is not None:
        raise InvalidParameterValue(
            'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from '
            'your request or change the LogFormat to "JSON" and try again.'
        )


def check_runtime_and_handler_given(runtime: str | None, handler: str | None) -> None:
    """Checked after the model's constraints: a zip function needs both."""
    if not runtime or not handler:
        raise InvalidParameterValue(
            "Runtime and Handler are mandatory parameters for functions created with "
            "deployment packages."
        )


def _environment_keys(variables: Mapping[str, str], violations: Violations) -> None:
    if any(not ENV_KEY_PATTERN.fullmatch(key) for key in variables):
        violations.add(
            "[PROTECTED]",
            "environment.variables",
            "Member must satisfy constraint: [Member must satisfy regular expression "
            "pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
        )


def _architectures(architectures: Sequence[str], violations: Violations) -> None:
    shown = "[" + ", ".join(architectures) + "]"
    if len(architectures) != 1:
        violations.add(shown, "architectures", "Member must have length less than or equal to 1")
    elif architectures[0] not in ARCHITECTURES:
        violations.add(
            shown,
            "architectures",
            "Member must satisfy constraint: [Member must satisfy enum value set: "
            "[x86_64, arm64], Member must not be null]",
        )


def check_architectures(architectures: Sequence[str]) -> None:
    violations = Violations()
    _architectures(architectures, violations)
    violations.raise_if_any()


def check_environment(variables: Mapping[str, str]) -> None:
    """The rules beyond the model's: reserved keys and the 4 KB limit."""
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


def check_tags(tags: Mapping[str, str]) -> None:
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValue(f"Number of tags exceeds resource tag limit ({MAX_TAGS}).")
    for key, value in tags.items():
        if not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise InvalidParameterValue(f"Tag key is not valid: {key}")
        if len(value) > 256:
            raise InvalidParameterValue(f"Tag value is not valid for key: {key}")
