"""A layer version's resource-based policy: who may use it (lambda:GetLayerVersion).

The policy is a list of statements with a RevisionId, kept with the layer
version's row; these functions build the new stored form or raise AWS's error.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from lambdad.catalog.names import constraint_message
from lambdad.errors import (
    InvalidParameterValue,
    PolicyLengthExceeded,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    ValidationError,
)

MAX_POLICY_BYTES = 20_480
GET_LAYER_VERSION = "lambda:GetLayerVersion"
PRINCIPAL_PATTERN = re.compile(r"\d{12}|\*|arn:(aws[a-zA-Z-]*):iam::\d{12}:root")
STATEMENT_ID_PATTERN = re.compile(r"[a-zA-Z0-9-_]+")
ORGANIZATION_ID_PATTERN = re.compile(r"o-[a-z0-9]{10,32}")

NO_POLICY = "No policy is associated with the given resource."
POLICY_REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetLayerPolicy API to retrieve the latest Revision Id"
)


@dataclass(frozen=True)
class LayerPolicy:
    statements: list[dict[str, Any]]
    revision_id: str

    def document(self) -> str:
        document = {"Version": "2012-10-17", "Id": "default", "Statement": self.statements}
        return json.dumps(document, separators=(",", ":"))


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
        _check_member(self.action, "action", re.compile(GET_LAYER_VERSION), GET_LAYER_VERSION, 22)
        _check_member(
            self.principal, "principal", PRINCIPAL_PATTERN, PRINCIPAL_PATTERN.pattern, 10000
        )
        principal: Any = "*"
        if self.principal != "*":
            arn = self.principal
            principal = {"AWS": f"arn:aws:iam::{arn}:root" if arn.isdigit() else arn}
        statement: dict[str, Any] = {
            "Sid": self.statement_id,
            "Effect": "Allow",
            "Principal": principal,
            "Action": GET_LAYER_VERSION,
            "Resource": resource,
        }
        if self.organization_id is not None:
            org = self.organization_id
            _check_member(
                org, "organizationId", ORGANIZATION_ID_PATTERN, ORGANIZATION_ID_PATTERN.pattern, 34
            )
            if self.principal != "*":
                raise InvalidParameterValue(
                    "OrganizationId can only be specified when Principal is '*'."
                )
            statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": org}}
        return statement


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
    if any(s.get("Sid") == statement["Sid"] for s in statements):
        raise ResourceConflict(
            f"The statement id ({statement['Sid']}) provided already exists. Please provide "
            "a new statement id, or remove the existing statement."
        )
    updated = LayerPolicy([*statements, statement], str(uuid.uuid4()))
    size = len(updated.document().encode())
    if size > MAX_POLICY_BYTES:
        raise PolicyLengthExceeded(
            f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES})."
        )
    return _with_policy(config, updated)


def remove_statement(
    config: dict[str, Any], statement_id: str, revision_id: str | None
) -> dict[str, Any]:
    """The layer version's config without the statement `statement_id`."""
    policy = policy_of(config)
    if policy is None:
        raise ResourceNotFound(NO_POLICY)
    _check_revision(policy, revision_id)
    remaining = [s for s in policy.statements if s.get("Sid") != statement_id]
    if len(remaining) == len(policy.statements):
        raise ResourceNotFound(f"Statement {statement_id} is not found in resource policy.")
    return _with_policy(config, LayerPolicy(remaining, str(uuid.uuid4())))


def check_statement_id(statement_id: str) -> None:
    _check_member(statement_id, "statementId", STATEMENT_ID_PATTERN, r"([a-zA-Z0-9-_]+)", 100)


def _check_member(value: str, member: str, pattern: re.Pattern[str], shown: str, most: int) -> None:
    if len(value) > most:
        raise ValidationError(
            constraint_message(
                value, member, f"Member must have length less than or equal to {most}"
            )
        )
    if not pattern.fullmatch(value):
        raise ValidationError(
            constraint_message(
                value, member, f"Member must satisfy regular expression pattern: {shown}"
            )
        )


def _check_revision(policy: LayerPolicy | None, revision_id: str | None) -> None:
    if revision_id is not None and (policy is None or policy.revision_id != revision_id):
        raise PreconditionFailed(POLICY_REVISION_MISMATCH)


def _with_policy(config: dict[str, Any], policy: LayerPolicy) -> dict[str, Any]:
    stored = {"statements": policy.statements, "revision_id": policy.revision_id}
    return {**config, "policy": stored if policy.statements else None}
