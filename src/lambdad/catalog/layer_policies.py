"""A layer version's resource-based policy: who may use it (lambda:GetLayerVersion).

The policy is a list of statements with a RevisionId, kept with the layer
version's row; these functions build the new stored form or raise AWS's error.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from lambdad.catalog.constraints import check_string
from lambdad.catalog.policy_documents import (
    MAX_POLICY_BYTES,
    NO_POLICY,
    allow_statement,
    check_can_add,
    check_can_remove,
    check_statement_id,
    render_policy,
    revision_mismatch,
)
from lambdad.errors import InvalidParameterValue, PreconditionFailed, ResourceNotFound

__all__ = [
    "MAX_POLICY_BYTES",
    "NO_POLICY",
    "LayerPermission",
    "LayerPolicy",
    "add_statement",
    "check_statement_id",
    "policy_of",
    "remove_statement",
]

GET_LAYER_VERSION = "lambda:GetLayerVersion"
# botocore's patterns for AddLayerVersionPermission's members.
PRINCIPAL_PATTERN = r"\d{12}|\*|arn:(aws[a-zA-Z-]*):iam::\d{12}:root"
ORGANIZATION_ID_PATTERN = r"o-[a-z0-9]{10,32}"
POLICY_REVISION_MISMATCH = revision_mismatch("GetLayerPolicy")


@dataclass(frozen=True)
class LayerPolicy:
    statements: list[dict[str, Any]]
    revision_id: str

    def document(self) -> str:
        return render_policy(self.statements)


@dataclass(frozen=True)
class LayerPermission:
    """What AddLayerVersionPermission grants."""

    statement_id: str
    action: str
    principal: str
    organization_id: str | None = None

    def statement(self, resource: str) -> dict[str, Any]:
        """The policy statement, as AWS writes it, or AWS's error for a bad parameter."""
        check_statement_id(self.statement_id)
        check_string(self.action, "action", 0, 22, GET_LAYER_VERSION)
        check_string(self.principal, "principal", 0, 10000, PRINCIPAL_PATTERN)
        condition: dict[str, Any] = {}
        if self.organization_id is not None:
            org = self.organization_id
            check_string(org, "organizationId", 0, 34, ORGANIZATION_ID_PATTERN)
            if self.principal != "*":
                raise InvalidParameterValue(
                    "OrganizationId can only be specified when Principal is '*'."
                )
            condition["StringEquals"] = {"aws:PrincipalOrgID": org}
        return allow_statement(
            self.statement_id, self.principal, GET_LAYER_VERSION, resource, condition
        )


def policy_of(config: dict[str, Any]) -> LayerPolicy | None:
    data = config.get("policy")
    if not data or not data.get("statements"):
        return None
    return LayerPolicy(list(data["statements"]), str(data["revision_id"]))


def add_statement(
    config: dict[str, Any], statement: dict[str, Any], revision_id: str | None
) -> dict[str, Any]:
    """The layer version's config with `statement` added to its policy."""
    policy = policy_of(config)
    _check_revision(policy, revision_id)
    statements = policy.statements if policy else []
    check_can_add(statements, statement)
    return _with_policy(config, LayerPolicy([*statements, statement], str(uuid.uuid4())))


def remove_statement(
    config: dict[str, Any], statement_id: str, revision_id: str | None
) -> dict[str, Any]:
    """The layer version's config without the statement `statement_id`."""
    policy = policy_of(config)
    if policy is None:
        raise ResourceNotFound(NO_POLICY)
    _check_revision(policy, revision_id)
    check_can_remove(policy.statements, statement_id)
    remaining = [s for s in policy.statements if s.get("Sid") != statement_id]
    return _with_policy(config, LayerPolicy(remaining, str(uuid.uuid4())))


def _check_revision(policy: LayerPolicy | None, revision_id: str | None) -> None:
    if revision_id is not None and (policy is None or policy.revision_id != revision_id):
        raise PreconditionFailed(POLICY_REVISION_MISMATCH)


def _with_policy(config: dict[str, Any], policy: LayerPolicy) -> dict[str, Any]:
    stored = {"statements": policy.statements, "revision_id": policy.revision_id}
    return {**config, "policy": stored if policy.statements else None}
