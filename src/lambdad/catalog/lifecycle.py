"""A version's AWS-visible lifecycle: State and LastUpdateStatus with their reasons.

What AWS shows at each step (and what boto3's waiters watch):

    CreateFunction       State Pending, StateReason "The function is being created.",
                         StateReasonCode Creating; no LastUpdateStatus yet
    code unpacked        State Active, LastUpdateStatus Successful
    Update*              State stays, LastUpdateStatus InProgress with the same
                         reason and code
    update unpacked      State Active, LastUpdateStatus Successful
    PublishVersion       a version: State Pending (reason, code); versions never
                         carry a LastUpdateStatus
    code unusable        State Failed (and LastUpdateStatus Failed) with the reason
    image deleted        State Failed, StateReasonCode ImageDeleted (`lost`)

The lifecycle is kept in the version row's config document under "lifecycle";
rows written before it existed carry "state"/"last_update_status"/"state_reason".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lambdad.catalog.model import FunctionState, LastUpdateStatus

CREATING_REASON = "The function is being created."
CREATING_CODE = "Creating"
FAILED_CODE = "InvalidZipFileException"
_LEGACY_KEYS = ("state", "last_update_status", "state_reason")


@dataclass(frozen=True)
class Lifecycle:
    state: FunctionState
    state_reason: str | None = None
    state_reason_code: str | None = None
    last_update_status: LastUpdateStatus | None = None
    last_update_status_reason: str | None = None
    last_update_status_reason_code: str | None = None

    @classmethod
    def creating(cls) -> Lifecycle:
        return cls(FunctionState.PENDING, CREATING_REASON, CREATING_CODE)

    def updating(self) -> Lifecycle:
        return replace(
            self,
            last_update_status=LastUpdateStatus.IN_PROGRESS,
            last_update_status_reason=CREATING_REASON,
            last_update_status_reason_code=CREATING_CODE,
        )

    def activated(self, *, published: bool) -> Lifecycle:
        return Lifecycle(
            FunctionState.ACTIVE,
            last_update_status=None if published else LastUpdateStatus.SUCCESSFUL,
        )

    def failed(self, reason: str, *, published: bool, code: str = FAILED_CODE) -> Lifecycle:
        if published:
            return Lifecycle(FunctionState.FAILED, reason, code)
        return Lifecycle(
            FunctionState.FAILED,
            reason,
            code,
            LastUpdateStatus.FAILED,
            reason,
            code,
        )

    def lost(self, reason: str, code: str) -> Lifecycle:
        """What it needs went away after it was ready (its image deleted): State Failed
        with `code`; LastUpdateStatus stays, as no update failed."""
        return replace(
            self, state=FunctionState.FAILED, state_reason=reason, state_reason_code=code
        )

    @property
    def busy(self) -> bool:
        """Still being created or updated: the code is not ready to run."""
        return (
            self.state is FunctionState.PENDING
            or self.last_update_status is LastUpdateStatus.IN_PROGRESS
        )

    @property
    def settled(self) -> bool:
        """Active, with no update under way or failed."""
        return self.state is FunctionState.ACTIVE and self.last_update_status in (
            None,
            LastUpdateStatus.SUCCESSFUL,
        )


def read_lifecycle(config: Mapping[str, Any]) -> Lifecycle:
    stored = config.get("lifecycle")
    if stored is not None:
        status = stored.get("last_update_status")
        return Lifecycle(
            state=FunctionState(stored["state"]),
            state_reason=stored.get("state_reason"),
            state_reason_code=stored.get("state_reason_code"),
            last_update_status=None if status is None else LastUpdateStatus(status),
            last_update_status_reason=stored.get("last_update_status_reason"),
            last_update_status_reason_code=stored.get("last_update_status_reason_code"),
        )
    # A row of an older lambdad: the three fields it kept.
    reason = config.get("state_reason")
    status = LastUpdateStatus(config.get("last_update_status", LastUpdateStatus.SUCCESSFUL))
    return Lifecycle(
        state=FunctionState(config.get("state", FunctionState.ACTIVE)),
        state_reason=reason,
        state_reason_code=FAILED_CODE if reason else None,
        last_update_status=status,
        last_update_status_reason=reason,
        last_update_status_reason_code=FAILED_CODE if reason else None,
    )


def with_lifecycle(config: Mapping[str, Any], lifecycle: Lifecycle) -> dict[str, Any]:
    """The config document with `lifecycle` recorded in it."""
    data = {k: v for k, v in config.items() if k not in (*_LEGACY_KEYS, "lifecycle")}
    data["lifecycle"] = {
        "state": lifecycle.state.value,
        "state_reason": lifecycle.state_reason,
        "state_reason_code": lifecycle.state_reason_code,
        "last_update_status": None
        if lifecycle.last_update_status is None
        else lifecycle.last_update_status.value,
        "last_update_status_reason": lifecycle.last_update_status_reason,
        "last_update_status_reason_code": lifecycle.last_update_status_reason_code,
    }
    return data
