"""SnapStart's configuration: which functions may have it, and what a version shows.

A function sets `SnapStart: {ApplyOn: PublishedVersions | None}`; AWS then
initialises each version it publishes once and starts that version's
environments from a snapshot of it. The rules here are AWS's for turning it
on: the runtimes it supports (for Python, python3.12 and later), never a
container image, never more than 512 MB of /tmp (a snapshot holds the disk).

What this server does with it: the setting is kept, copied into each
published version, validated and shown as AWS shows it. A `SnapStartRestorer`
(the pool's templates, `pool/snapstart.py`) initialises each published
version once, while it is Pending, and restores its environments from that;
such a version shows OptimizationStatus "On". Where the host cannot restore
(see the pool's module), every version shows "Off", the truthful answer to
AWS's question "is SnapStart activated for this version", and its
environments run Init as on-demand ones do. $LATEST is always "Off". The
runtime hooks module AWS ships (`snapshot_restore_py`) is importable by every
Python function, so code written for SnapStart runs unchanged.
"""

from __future__ import annotations

from typing import Protocol

from lambdad.catalog.constraints import Violations
from lambdad.catalog.model import FunctionConfig, Version
from lambdad.errors import InvalidParameterValue

SNAPSTART_ON = "PublishedVersions"
SNAPSTART_OFF = "None"
APPLY_ON = (SNAPSTART_ON, SNAPSTART_OFF)

SNAPSTART_RUNTIMES = (
    "java11", "java17", "java21", "java25",
    "python3.12", "python3.13", "python3.14",
    "dotnet8", "dotnet10",
)  # fmt: skip
"""The managed runtimes AWS offers SnapStart on (Java 11+, Python 3.12+, .NET 8+)."""
MAX_EPHEMERAL_STORAGE = 512
SNAPSTART_OPTIMIZATION = "Off"
"""SnapStartResponse.OptimizationStatus of a version whose environments run Init."""
OPTIMIZED = "On"
SNAPSTART_FAILED_CODE = "FunctionError"
"""A version's StateReasonCode when its SnapStart Init failed."""
PROVISIONED_REFUSED = "Provisioned Concurrency is not supported for SnapStart enabled functions."


class SnapStartFailed(Exception):
    """A version's snapshot could not be made: `reason` becomes its StateReason."""

    def __init__(self, reason: str, code: str = SNAPSTART_FAILED_CODE) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class SnapStartRestorer(Protocol):
    """Who restores SnapStart versions' environments (the pool's templates)."""

    def serves(self, version: Version) -> bool:
        """Whether `version`'s environments are restored from a snapshot."""
        ...

    async def prepare(self, version: Version) -> None:
        """Initialise the just-published `version` once. Raises SnapStartFailed."""
        ...


def check_provisioned(version: Version) -> None:
    """AWS refuses provisioned concurrency on a version with SnapStart on."""
    if version.config.snap_start == SNAPSTART_ON:
        raise InvalidParameterValue(PROVISIONED_REFUSED)


def check_apply_on(apply_on: str, violations: Violations) -> None:
    """The model's enum constraint on snapStart.applyOn."""
    if apply_on not in APPLY_ON:
        violations.add(
            apply_on,
            "snapStart.applyOn",
            f"Member must satisfy enum value set: [{', '.join(APPLY_ON)}]",
        )


def check_snap_start(config: FunctionConfig) -> None:
    """Lambda's rules for a function with SnapStart on (after the members' constraints)."""
    if config.snap_start != SNAPSTART_ON:
        return
    if config.package_type == "Image":
        raise InvalidParameterValue(
            "ContainerImage is not supported for SnapStart enabled functions."
        )
    if config.runtime not in SNAPSTART_RUNTIMES:
        raise InvalidParameterValue(
            f"{config.runtime} is not supported for SnapStart enabled functions."
        )
    if config.ephemeral_storage > MAX_EPHEMERAL_STORAGE:
        raise InvalidParameterValue(
            "Ephemeral storage greater than 512 MB is not supported for SnapStart enabled "
            "functions."
        )
