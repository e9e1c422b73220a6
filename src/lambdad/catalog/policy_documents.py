"""Resource-based policy documents as AWS writes them, shared by functions and layers.

A function's policy (AddPermission) and a layer version's policy
(AddLayerVersionPermission) are the same thing: a list of "Allow" statements
with a Sid each, rendered as compact JSON with Version "2012-10-17" and Id
"default", at most 20 KB. Here are the pieces both build them from: the
statement and principal as AWS
renders them, and the checks that a statement may be added or removed.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lambdad.catalog.constraints import check_string
from lambdad.errors import (
    InvalidParameterValue,
    PolicyLengthExceeded,
    ResourceConflict,
    ResourceNotFound,
)

MAX_POLICY_BYTES = 20_480
STATEMENT_ID_PATTERN = r"([a-zA-Z0-9-_]+)"
MAX_STATEMENT_ID = 100
NO_POLICY = "No policy is associated with the given resource."
_ACCOUNT = re.compile(r"\d{12}")
_IAM_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iam::\d{12}:\S+")
_SERVICE_PRINCIPAL = re.compile(r"[a-z0-9.-]+\.(amazonaws\.com|amazon\.com)(\.cn)?")


def revision_mismatch(get_operation: str) -> str:
    """AWS's message for a stale RevisionId; it names the operation that reads the policy."""
    return (
        "The Revision Id provided does not match the latest Revision Id. "
        f"Call the {get_operation} API to retrieve the latest Revision Id"
    )


def check_statement_id(statement_id: str) -> None:
    check_string(statement_id, "statementId", 0, MAX_STATEMENT_ID, STATEMENT_ID_PATTERN)


def render_principal(principal: str) -> str | dict[str, str]:
    """AWS's rendering: `*`, an account as its root ARN, a service, or an IAM ARN."""
    if principal == "*":
        return "*"
    if _ACCOUNT.fullmatch(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _IAM_ARN.fullmatch(principal):
        return {"AWS": principal}
    if _SERVICE_PRINCIPAL.fullmatch(principal):
        return {"Service": principal}
    raise InvalidParameterValue(
        "The provided principal was invalid. Please check the principal and try again."
    )


def allow_statement(
    sid: str, principal: str, action: str, resource: str, condition: dict[str, Any]
) -> dict[str, Any]:
    """One "Allow" statement, keys in AWS's order; no Condition key when there is none."""
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": render_principal(principal),
        "Action": action,
        "Resource": resource,
    }
    if condition:
        statement["Condition"] = condition
    return statement


def render_statement(statement: dict[str, Any]) -> str:
    """A statement (or document) as compact JSON, as AWS sends it."""
    return json.dumps(statement, separators=(",", ":"))


def render_policy(statements: list[dict[str, Any]]) -> str:
    """The policy document GetPolicy and GetLayerVersionPolicy return."""
    return render_statement({"Version": "2012-10-17", "Id": "default", "Statement": statements})


def check_can_add(statements: list[dict[str, Any]], statement: dict[str, Any]) -> None:
    """AWS's error when `statement`'s Sid is taken or the policy would grow past its limit."""
    sid = statement["Sid"]
    if any(s.get("Sid") == sid for s in statements):
        raise ResourceConflict(
            f"The statement id ({sid}) provided already exists. Please provide a new "
            "statement id, or remove the existing statement."
        )
    size = len(render_policy([*statements, statement]).encode())
    if size > MAX_POLICY_BYTES:
        raise PolicyLengthExceeded(
            f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES})."
        )


def check_can_remove(statements: list[dict[str, Any]], statement_id: str) -> None:
    if not any(s.get("Sid") == statement_id for s in statements):
        raise ResourceNotFound(f"Statement {statement_id} is not found in resource policy.")
