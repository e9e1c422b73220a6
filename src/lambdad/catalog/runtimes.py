"""Lambda runtime identifiers: which AWS knows, which it retired, which we run."""

from __future__ import annotations

from lambdad.errors import InvalidParameterValue

# Runtime identifiers AWS accepts today (botocore's Runtime enum, less the retired).
ACTIVE_RUNTIMES = (
    "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x",
    "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
    "java8.al2", "java11", "java17", "java21", "java25",
    "dotnet8", "dotnet10",
    "ruby3.2", "ruby3.3", "ruby3.4", "ruby4.0",
    "provided.al2", "provided.al2023",
)  # fmt: skip

# Retired: AWS refuses them for create and update.
DEPRECATED_RUNTIMES = (
    "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x",
    "nodejs12.x", "nodejs14.x", "nodejs16.x",
    "python2.7", "python3.6", "python3.7", "python3.8",
    "java8", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6",
    "go1.x", "ruby2.5", "ruby2.7", "provided",
)  # fmt: skip

ALL_RUNTIMES = ACTIVE_RUNTIMES + DEPRECATED_RUNTIMES

# The families this server can execute (built-in bootstraps or a custom bootstrap).
EXECUTABLE_PREFIXES = ("python3.", "nodejs", "provided")


def check_runtime(runtime: str) -> None:
    """Raise AWS's error for a runtime it would refuse, or ours for one we can't run."""
    if runtime not in ALL_RUNTIMES:
        values = ", ".join(ALL_RUNTIMES)
        # Not a model constraint on AWS (the value may be an ARN): its own error class,
        # without the "N validation errors detected" frame or quotes.
        raise InvalidParameterValue(
            f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy "
            f"enum value set: [{values}] or be a valid ARN"
        )
    if runtime in DEPRECATED_RUNTIMES:
        raise InvalidParameterValue(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating "
            "AWS Lambda functions. We recommend you use a supported runtime while creating or "
            "updating functions."
        )
    if not runtime.startswith(EXECUTABLE_PREFIXES):
        raise InvalidParameterValue(
            f"The runtime parameter of {runtime} is not supported by this lambdad server. "
            "Supported: python3.x, nodejs*.x, provided.al2, provided.al2023."
        )
