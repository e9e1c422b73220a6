"""Checking an identity policy document before it is stored (a role's or a user's).

IAM refuses a malformed document when it is attached, with
`MalformedPolicyDocument` and a message saying what is wrong; so does this.
Checked: JSON object, `Version` (2012-10-17 or 2008-10-17) if present,
`Statement` (one or a list), each with `Effect` Allow|Deny, exactly one of
`Action`/`NotAction` and of `Resource`/`NotResource`, no `Principal` (an
identity policy has none), known `Condition` operators.
"""

from __future__ import annotations

import json
from typing import Any

from lambdad.errors import LambdadError
from lambdad.iam.conditions import OPERATORS

VERSIONS = ("2012-10-17", "2008-10-17")
STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
)
MAX_POLICY_CHARS = 10_240  # a managed policy's limit in IAM


class MalformedPolicy(LambdadError):
    code = "MalformedPolicyDocument"
    status = 400


def parse_identity_policy(text: str) -> dict[str, Any]:
    """The document in `text`, or `MalformedPolicy` saying what is wrong with it."""
    if len(text) > MAX_POLICY_CHARS:
        raise MalformedPolicy(f"Cannot exceed quota for PolicySize: {MAX_POLICY_CHARS}")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise MalformedPolicy(f"Syntax errors in policy: {exc}") from exc
    check_identity_policy(document)
    return dict(document)


def check_identity_policy(document: Any) -> None:
    if not isinstance(document, dict):
        raise MalformedPolicy("Syntax errors in policy.")
    unknown = set(document) - {"Version", "Id", "Statement"}
    if unknown:
        raise MalformedPolicy(f"Policy document contains unknown element(s): {sorted(unknown)}")
    if "Version" in document and document["Version"] not in VERSIONS:
        raise MalformedPolicy("The policy failed legacy parsing")
    found = document.get("Statement")
    if found is None or found == []:
        raise MalformedPolicy("Missing required field Statement")
    for statement in found if isinstance(found, list) else [found]:
        _check_statement(statement)


def _check_statement(statement: Any) -> None:
    if not isinstance(statement, dict):
        raise MalformedPolicy("Syntax errors in policy.")
    if "Principal" in statement or "NotPrincipal" in statement:
        raise MalformedPolicy("Policy document should not specify a principal.")
    unknown = set(statement) - STATEMENT_KEYS
    if unknown:
        raise MalformedPolicy(f"Statement contains unknown element(s): {sorted(unknown)}")
    if statement.get("Effect") not in ("Allow", "Deny"):
        raise MalformedPolicy("Effect must be Allow or Deny")
    for name in ("Action", "Resource"):
        present = [k for k in (name, f"Not{name}") if k in statement]
        if len(present) != 1:
            raise MalformedPolicy(f"Policy statement must contain exactly one of {name}, Not{name}")
        if not _strings(statement[present[0]]):
            raise MalformedPolicy(f"{present[0]} must be a string or a list of strings")
    condition = statement.get("Condition", {})
    if not isinstance(condition, dict):
        raise MalformedPolicy("Syntax errors in policy: Condition must be an object")
    for operator, tests in condition.items():
        base = str(operator).split(":", 1)[-1].removesuffix("IfExists")
        if (base not in OPERATORS and base != "Null") or not isinstance(tests, dict):
            raise MalformedPolicy(f"Invalid Condition type : {operator}")


def _strings(value: Any) -> bool:
    listed = value if isinstance(value, list) else [value]
    return bool(listed) and all(isinstance(v, str) and v for v in listed)
