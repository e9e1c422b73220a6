"""Deciding one request: may this principal perform this action on these resources?

`Authorizer.authorize(principal, action, resources, context)` is the one hook
every API calls (the Lambda routes through `api/authorization.py`'s table;
other APIs call it with their own action and ARNs). It raises AWS's
`AccessDeniedException`, naming the caller, the action and the resource:

    User: arn:aws:iam::000000000000:user/bob is not authorized to perform:
    lambda:InvokeFunction on resource: arn:aws:lambda:...:function:f because
    no identity-based policy allows the lambda:InvokeFunction action

Policies in play (`iam/policy_eval.py` combines them as AWS does in one account):
- the caller's identity policies: a user's attached policies, or a role
  session's role policy (read at each request, so changes apply at once);
- the resource's policy, for a function (AddPermission's statements of the
  function, version or alias the request names).

The admin user may do everything; with authorization off (`--auth off`)
everyone may. Service principals (the event bus, the scheduler) have no
identity: `service_may_invoke` asks only the function's resource policy,
with the trigger's ARN and account as `aws:SourceArn`/`aws:SourceAccount`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from lambdad.errors import AccessDenied
from lambdad.iam.conditions import ContextValue
from lambdad.iam.policy_eval import Caller, Policy, Request, Verdict, evaluate
from lambdad.iam.principal import Principal, PrincipalKind

log = logging.getLogger(__name__)

IdentityPolicies = Callable[[Principal], Awaitable[Sequence[Policy]]]
"""The identity policies of a principal (a user's attached ones, a session's role's)."""
ResourcePolicy = Callable[[str], Awaitable[Policy | None]]
"""The resource-based policy attached to an ARN, if the ARN has one (functions do)."""


class Authorizer:
    def __init__(
        self,
        account_id: str,
        identity_policies: IdentityPolicies,
        resource_policy: ResourcePolicy,
        is_admin: Callable[[Principal], bool] = lambda _p: False,
        enabled: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account_id = account_id
        self.identity_policies = identity_policies
        self.resource_policy = resource_policy
        self.is_admin = is_admin
        self.enabled = enabled
        self._clock = clock

    def exempts(self, principal: Principal | None) -> bool:
        """Whether `principal` may do anything (the admin; anyone with authorization
        off): callers skip working out the request's ARNs."""
        return not self.enabled or (principal is not None and self.is_admin(principal))

    async def authorize(
        self,
        principal: Principal | None,
        action: str,
        resources: Sequence[str],
        context: Mapping[str, ContextValue] | None = None,
    ) -> None:
        """Return if `principal` may perform `action` on every one of `resources`,
        else raise `AccessDenied` naming the first refused resource."""
        if self.exempts(principal):
            return
        if principal is None or principal.kind is PrincipalKind.ANONYMOUS:
            raise AccessDenied(f"Anonymous callers are not authorized to perform: {action}")
        identity = await self.identity_policies(principal)
        caller = self._caller(principal)
        keys = {**self._global_keys(principal), **_lowered(context or {})}
        for resource in resources or ["*"]:
            policy = await self.resource_policy(resource) if resource != "*" else None
            verdict = evaluate(Request(action, resource, caller, keys), identity, policy)
            if not verdict.allowed:
                log.info("%s: denied %s on %s", principal.arn, action, resource)
                raise AccessDenied(denial_message(principal.arn, action, resource, verdict))

    async def service_may_invoke(
        self,
        service: str,
        function_arn: str,
        source_arn: str | None = None,
        source_account: str | None = None,
        action: str = "lambda:InvokeFunction",
    ) -> bool:
        """Whether the function's resource policy lets `service` (e.g.
        `events.amazonaws.com`) invoke it for the trigger `source_arn`.

        `function_arn` is the ARN the trigger targets (qualified when it names a
        version or alias: that one's policy decides). True whenever
        authorization is off."""
        if not self.enabled:
            return True
        keys: dict[str, ContextValue] = {"aws:currenttime": _iso(self._clock())}
        if source_arn is not None:
            keys["aws:sourcearn"] = source_arn
        keys["aws:sourceaccount"] = source_account or self.account_id
        request = Request(action, function_arn, Caller(service=service), keys)
        return evaluate(request, (), await self.resource_policy(function_arn)).allowed

    async def anyone_may(
        self, action: str, resource: str, context: Mapping[str, ContextValue] | None = None
    ) -> bool:
        """Whether the resource's policy lets anyone, unauthenticated, perform `action`
        (a function URL with AuthType NONE). Asked whether or not authorization is
        on: such a URL is public only when its function's policy says so."""
        keys = {"aws:currenttime": _iso(self._clock()), **_lowered(context or {})}
        request = Request(action, resource, Caller(), keys)
        return evaluate(request, (), await self.resource_policy(resource)).allowed

    async def role_may(
        self, role_arn: str, role_policy: Policy, action: str, resource: str
    ) -> bool:
        """Whether a role acting for a service (a schedule's execution role) may
        perform `action` on `resource`: its policy and the resource's, as for a
        role session. True whenever authorization is off."""
        if not self.enabled:
            return True
        caller = Caller(arn=role_arn, account=self.account_id, role_arn=role_arn)
        keys: dict[str, ContextValue] = {
            "aws:principalarn": role_arn,
            "aws:principalaccount": self.account_id,
            "aws:principaltype": "AssumedRole",
            "aws:currenttime": _iso(self._clock()),
        }
        policy = await self.resource_policy(resource)
        return evaluate(Request(action, resource, caller, keys), [role_policy], policy).allowed

    def _caller(self, principal: Principal) -> Caller:
        role_arn = None
        if principal.kind is PrincipalKind.ROLE_SESSION:
            role_name = principal.arn.split("/")[1] if "/" in principal.arn else ""
            role_arn = f"arn:aws:iam::{self.account_id}:role/{role_name}"
        return Caller(arn=principal.arn, account=self.account_id, role_arn=role_arn)

    def _global_keys(self, principal: Principal) -> dict[str, ContextValue]:
        now = self._clock()
        keys: dict[str, ContextValue] = {
            "aws:principalarn": principal.arn,
            "aws:principalaccount": self.account_id,
            "aws:currenttime": _iso(now),
            "aws:epochtime": str(int(now)),
        }
        if principal.kind is PrincipalKind.USER:
            keys["aws:username"] = principal.name
            keys["aws:principaltype"] = "User"
        elif principal.kind is PrincipalKind.ROLE_SESSION:
            keys["aws:principaltype"] = "AssumedRole"
            keys["aws:principalarn"] = self._caller(principal).role_arn or principal.arn
        return keys


def denial_message(who: str, action: str, resource: str, verdict: Verdict) -> str:
    """AWS's AccessDeniedException text for an implicit or an explicit deny."""
    head = f"User: {who} is not authorized to perform: {action} on resource: {resource}"
    if verdict.denied_by is not None:
        article = "an" if verdict.denied_by.startswith("identity") else "a"
        return f"{head} with an explicit deny in {article} {verdict.denied_by} policy"
    return f"{head} because no identity-based policy allows the {action} action"


def _lowered(context: Mapping[str, Any]) -> dict[str, ContextValue]:
    return {str(k).lower(): v for k, v in context.items()}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
