"""Resource policies: who may call a function, version or alias (AddPermission).

Each AddPermission adds one statement to the policy of a function + qualifier,
rendered as AWS renders it (GetPolicy's document: Version "2012-10-17", Id
"default"). The policy has a RevisionId of its own that every change renews;
a request that names an older one fails its precondition.

Authorization (`iam.Authorizer`) evaluates the policy of the ARN a request
names together with the caller's identity policies (`document_for`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

from lambdad.catalog.constraints import check_string
from lambdad.catalog.model import LATEST
from lambdad.catalog.names import REGION_PATTERN, Account, FunctionRef, constraint_message
from lambdad.catalog.policy_documents import (
    MAX_STATEMENT_ID,
    NO_POLICY,
    STATEMENT_ID_PATTERN,
    allow_statement,
    check_can_add,
    check_can_remove,
    render_policy,
    render_statement,
    revision_mismatch,
)
from lambdad.catalog.regional import Regional
from lambdad.catalog.service import Catalog
from lambdad.concurrency import run_sync
from lambdad.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    ValidationError,
)
from lambdad.store.policies import PolicyStore

__all__ = ["Permission", "Policies", "Policy", "render_statement"]

REVISION_MISMATCH = revision_mismatch("GetPolicy")
# botocore's patterns for AddPermission's members, by the member they check.
PATTERNS = {
    "statementId": STATEMENT_ID_PATTERN,
    "action": r"(lambda:[*]|lambda:[a-zA-Z]+|[*])",
    "principal": r"[^\s]+",
    "sourceArn": r"arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\-])+:"
    r"((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1})?:(\d{12})?:(.*)",
    "sourceAccount": r"\d{12}",
    "principalOrgID": r"o-[a-z0-9]{10,32}",
    "eventSourceToken": r"[a-zA-Z0-9._\-]+",
}
MAX_LENGTHS = {
    "statementId": MAX_STATEMENT_ID,
    "action": 10000,
    "principal": 2048,
    "sourceArn": 10000,
    "sourceAccount": 12,
    "principalOrgID": 34,
    "eventSourceToken": 256,
}
AUTH_TYPES = ("NONE", "AWS_IAM")
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


class Policies(Regional):
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
            check_can_add(current.statements, statement)
            if await run_sync(
                self.store.add,
                ref.name,
                key,
                current.revision_id,
                permission.statement_id,
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
                raise ResourceNotFound(NO_POLICY)
            if revision_id is not None and revision_id != current.revision_id:
                raise PreconditionFailed(REVISION_MISMATCH)
            check_can_remove(current.statements, statement_id)
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
        return Policy(document=render_policy(current.statements), revision_id=current.revision_id)

    async def document_for(self, arn: str) -> dict[str, Any] | None:
        """The resource policy attached to a function, version or alias ARN of this
        account, in the ARN's region (what authorization evaluates), or None."""
        parts = arn.split(":")
        if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
            return None
        if parts[4] != self.account.account_id or not re.fullmatch(REGION_PATTERN, parts[3]):
            return None
        qualifier = parts[7] if len(parts) == 8 else LATEST
        store = self.in_region(parts[3]).store
        current = await run_sync(store.get, parts[6], qualifier)
        if not current.statements:
            return None
        return {"Version": "2012-10-17", "Id": "default", "Statement": current.statements}

    def _statement(self, ref: FunctionRef, permission: Permission) -> dict[str, Any]:
        """The statement as AWS renders it, keys in AWS's order."""
        return allow_statement(
            permission.statement_id,
            permission.principal,
            permission.action,
            self.account.function_arn(ref.name, ref.qualifier),
            _condition(permission),
        )

    def _lost_race(self, ref: FunctionRef, conditional: bool) -> Exception:
        if conditional:
            return PreconditionFailed(REVISION_MISMATCH)
        return ResourceConflict(
            "The operation cannot be performed at this time. An update is in progress for "
            f"resource: {self.account.function_arn(ref.name, ref.qualifier)}"
        )


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
        if value is not None:
            check_string(value, member, 0, MAX_LENGTHS[member], PATTERNS[member])
    auth_type = permission.function_url_auth_type
    if auth_type is not None and auth_type not in AUTH_TYPES:
        raise ValidationError(
            constraint_message(
                auth_type,
                "functionUrlAuthType",
                "Member must satisfy enum value set: [NONE, AWS_IAM]",
            )
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
