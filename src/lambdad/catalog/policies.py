"""Resource policies: who may call a function, version or alias (AddPermission).

Each AddPermission adds one statement to the policy of a function + qualifier,
rendered as AWS renders it (GetPolicy's document: Version "2012-10-17", Id
"default"). The policy has a RevisionId of its own that every change renews;
a request that names an older one fails its precondition.

lambdad stores and returns policies; it does not enforce them until requests
are authenticated (the README says so).
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from lambdad.catalog.model import LATEST
from lambdad.catalog.names import Account, FunctionRef, constraint_message
from lambdad.catalog.service import Catalog
from lambdad.concurrency import run_sync
from lambdad.errors import (
    InvalidParameterValue,
    PolicyLengthExceeded,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    ValidationError,
)
from lambdad.store.policies import PolicyStore

MAX_POLICY_BYTES = 20 * 1024
REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetPolicy API to retrieve the latest Revision Id"
)
# botocore's patterns for AddPermission's members, by the member they check.
PATTERNS = {
    "statementId": r"([a-zA-Z0-9-_]+)",
    "action": r"(lambda:[*]|lambda:[a-zA-Z]+|[*])",
    "principal": r"[^\s]+",
    "sourceArn": r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:"
    r"((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)",
    "sourceAccount": r"\d{12}",
    "principalOrgID": r"o-[a-z0-9]{10,32}",
    "eventSourceToken": r"[a-zA-Z0-9._\-]+",
}
MAX_LENGTHS = {
    "statementId": 100,
    "action": 10000,
    "principal": 2048,
    "sourceArn": 10000,
    "sourceAccount": 12,
    "principalOrgID": 34,
    "eventSourceToken": 256,
}
AUTH_TYPES = ("NONE", "AWS_IAM")
_SERVICE_PRINCIPAL = re.compile(r"[a-z0-9.-]+\.(amazonaws\.com|amazon\.com)(\.cn)?")
_IAM_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iam::\d{12}:\S+")
_ATTEMPTS = 5


@dataclass(frozen=True)
class Permission:
    """One AddPermission request, unvalidated."""

    statement_id: str
    action: str
    principal: str
    source_arn: str | None = None
    source_account: str | None = None
    principal_org_id: str | None = None
    event_source_token: str | None = None
    function_url_auth_type: str | None = None
    invoked_via_function_url: bool | None = None


@dataclass(frozen=True)
class Policy:
    document: str
    """The policy as the JSON text GetPolicy returns."""
    revision_id: str


class Policies:
    def __init__(self, account: Account, catalog: Catalog, store: PolicyStore) -> None:
        self.account = account
        self.catalog = catalog
        self.store = store

    async def add(
        self,
        function_name: str,
        qualifier: str | None,
        permission: Permission,
        revision_id: str | None = None,
    ) -> dict[str, Any]:
        """AddPermission: the statement as it was added to the policy."""
        ref = self.account.resolve(function_name, qualifier)
        if ref.qualifier == LATEST:
            raise InvalidParameterValue("We currently do not support adding policies for $LATEST.")
        _check(permission)
        target = await self.catalog.resolve(ref)
        # With no policy yet, the caller has the function's (or alias's) own RevisionId.
        own_revision = (target.alias or target.version).revision_id
        statement = self._statement(ref, permission)
        key = ref.qualifier or LATEST
        for _ in range(_ATTEMPTS):
            current = await run_sync(self.store.get, ref.name, key)
            expected = current.revision_id or own_revision
            if revision_id is not None and revision_id != expected:
                raise PreconditionFailed(REVISION_MISMATCH)
            sid = permission.statement_id
            if any(s.get("Sid") == sid for s in current.statements):
                raise ResourceConflict(
                    f"The statement id ({sid}) provided already exists. Please provide a new "
                    "statement id, or remove the existing statement."
                )
            size = len(_render([*current.statements, statement]))
            if size > MAX_POLICY_BYTES:
                raise PolicyLengthExceeded(
                    f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES})."
                )
            if await run_sync(
                self.store.add,
                ref.name,
                key,
                current.revision_id,
                sid,
                statement,
                str(uuid.uuid4()),
            ):
                return statement
        raise self._lost_race(ref, revision_id is not None)

    async def remove(
        self,
        function_name: str,
        qualifier: str | None,
        statement_id: str,
        revision_id: str | None = None,
    ) -> None:
        """RemovePermission."""
        ref = self.account.resolve(function_name, qualifier)
        await self.catalog.resolve(ref)
        key = ref.qualifier or LATEST
        for _ in range(_ATTEMPTS):
            current = await run_sync(self.store.get, ref.name, key)
            if current.revision_id is None:
                raise ResourceNotFound("No policy is associated with the given resource.")
            if revision_id is not None and revision_id != current.revision_id:
                raise PreconditionFailed(REVISION_MISMATCH)
            if not any(s.get("Sid") == statement_id for s in current.statements):
                raise ResourceNotFound(f"Statement {statement_id} is not found in resource policy.")
            if await run_sync(
                self.store.remove,
                ref.name,
                key,
                current.revision_id,
                statement_id,
                str(uuid.uuid4()),
            ):
                return
        raise self._lost_race(ref, revision_id is not None)

    async def get(self, function_name: str, qualifier: str | None) -> Policy:
        """GetPolicy."""
        ref = self.account.resolve(function_name, qualifier)
        await self.catalog.resolve(ref)
        current = await run_sync(self.store.get, ref.name, ref.qualifier or LATEST)
        if current.revision_id is None or not current.statements:
            raise ResourceNotFound("The resource you requested does not exist.")
        return Policy(document=_render(current.statements), revision_id=current.revision_id)

    def _statement(self, ref: FunctionRef, permission: Permission) -> dict[str, Any]:
        """The statement as AWS renders it, keys in AWS's order."""
        statement: dict[str, Any] = {
            "Sid": permission.statement_id,
            "Effect": "Allow",
            "Principal": _principal(permission.principal),
            "Action": permission.action,
            "Resource": self.account.function_arn(ref.name, ref.qualifier),
        }
        condition = _condition(permission)
        if condition:
            statement["Condition"] = condition
        return statement

    def _lost_race(self, ref: FunctionRef, conditional: bool) -> Exception:
        if conditional:
            return PreconditionFailed(REVISION_MISMATCH)
        return ResourceConflict(
            "The operation cannot be performed at this time. An update is in progress for "
            f"resource: {self.account.function_arn(ref.name, ref.qualifier)}"
        )


def render_statement(statement: dict[str, Any]) -> str:
    """AddPermission's Statement: compact JSON, as AWS sends it."""
    return json.dumps(statement, separators=(",", ":"))


def _render(statements: list[dict[str, Any]]) -> str:
    return render_statement({"Version": "2012-10-17", "Id": "default", "Statement": statements})


def _check(permission: Permission) -> None:
    values = {
        "statementId": permission.statement_id,
        "action": permission.action,
        "principal": permission.principal,
        "sourceArn": permission.source_arn,
        "sourceAccount": permission.source_account,
        "principalOrgID": permission.principal_org_id,
        "eventSourceToken": permission.event_source_token,
    }
    for member, value in values.items():
        if value is None:
            continue
        if len(value) > MAX_LENGTHS[member]:
            raise ValidationError(
                constraint_message(
                    value,
                    member,
                    f"Member must have length less than or equal to {MAX_LENGTHS[member]}",
                )
            )
        if not re.fullmatch(PATTERNS[member], value):
            raise ValidationError(
                constraint_message(
                    value,
                    member,
                    f"Member must satisfy regular expression pattern: {PATTERNS[member]}",
                )
            )
    auth_type = permission.function_url_auth_type
    if auth_type is not None and auth_type not in AUTH_TYPES:
        raise ValidationError(
            constraint_message(
                auth_type,
                "functionUrlAuthType",
                "Member must satisfy enum value set: [NONE, AWS_IAM]",
            )
        )


def _principal(principal: str) -> str | dict[str, str]:
    """AWS's rendering: `*`, an account as its root ARN, a service, or an IAM ARN."""
    if principal == "*":
        return "*"
    if re.fullmatch(r"\d{12}", principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if _IAM_ARN.fullmatch(principal):
        return {"AWS": principal}
    if _SERVICE_PRINCIPAL.fullmatch(principal):
        return {"Service": principal}
    raise InvalidParameterValue(
        "The provided principal was invalid. Please check the principal and try again."
    )


def _condition(permission: Permission) -> dict[str, dict[str, str]]:
    """The statement's Condition, with AWS's operators and key spellings."""
    condition: dict[str, dict[str, str]] = {}
    string_equals = {
        "AWS:SourceAccount": permission.source_account,
        "aws:PrincipalOrgID": permission.principal_org_id,
        "lambda:FunctionUrlAuthType": permission.function_url_auth_type,
        "lambda:EventSourceToken": permission.event_source_token,
    }
    equals = {k: v for k, v in string_equals.items() if v is not None}
    if equals:
        condition["StringEquals"] = equals
    if permission.source_arn is not None:
        condition["ArnLike"] = {"AWS:SourceArn": permission.source_arn}
    if permission.invoked_via_function_url:
        condition["Bool"] = {"lambda:InvokedViaFunctionUrl": "true"}
    return condition
