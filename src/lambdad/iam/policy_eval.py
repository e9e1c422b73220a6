"""IAM policy evaluation: is this request allowed by these policies?

A policy engine that fits IAM's semantics was looked for first: policyuniverse
parses policies and expands actions but decides no request (and has had no
release since 2023); parliament lints; cedarpy evaluates Cedar, a different
language with different rules; principalmapper's simulator is tied to its
account graph and unmaintained since 2022; moto's is a test double inside a
mock server. So this is a small evaluator of IAM's JSON grammar, tested
against a table drawn from AWS's documented evaluation logic
(tests/unit/iam/test_policy_eval.py).

The grammar: `Version`, `Statement` (one or a list), `Effect`,
`Action`/`NotAction`, `Resource`/`NotResource`, `Principal`/`NotPrincipal`
(resource policies), `Condition` (`iam/conditions.py`). The logic within one
account ("Policy evaluation for requests within a single account"):

1. an explicit Deny in any policy, identity- or resource-based, denies;
2. else an Allow in an identity-based policy, or an Allow in the resource's
   policy that names the caller, allows;
3. else the request is implicitly denied.

A resource policy that names only the account (`arn:aws:iam::ACCOUNT:root` or
the bare account id) delegates to the account's identity policies: it allows
nothing by itself to a user or role of that account (it still denies).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lambdad.iam.conditions import Context, conditions_hold, substitute
from lambdad.iam.wildcards import action_matches, arn_matches

Policy = dict[str, Any]


class Decision(enum.Enum):
    ALLOW = "allow"
    DENY = "deny"
    """An explicit Deny."""
    NONE = "none"
    """No statement applies: an implicit deny, unless another policy allows."""


@dataclass(frozen=True)
class Caller:
    """Who asks, as resource policies' `Principal` sees it."""

    arn: str | None = None
    """The IAM identity: `arn:aws:iam::A:user/bob`, `arn:aws:sts::A:assumed-role/R/S`."""
    account: str | None = None
    role_arn: str | None = None
    """For a role session, its role (`arn:aws:iam::A:role/R`): a policy may name either."""
    service: str | None = None
    """A service principal acting on its own (`events.amazonaws.com`)."""


@dataclass(frozen=True)
class Request:
    action: str
    resource: str
    caller: Caller = field(default_factory=Caller)
    context: Context = field(default_factory=dict)
    """Condition keys, names lowercased (`aws:sourcearn`)."""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    denied_by: str | None = None
    """For an explicit deny, the kind of policy that said it: "identity-based" or
    "resource-based"; None for an allow or an implicit deny."""


def evaluate(
    request: Request,
    identity_policies: Iterable[Policy] = (),
    resource_policy: Policy | None = None,
) -> Verdict:
    """The same-account decision over the caller's policies and the resource's."""
    identity = [policy_decision(p, request) for p in identity_policies]
    resource = (
        Decision.NONE
        if resource_policy is None
        else policy_decision(resource_policy, request, resource_based=True)
    )
    if Decision.DENY in identity:
        return Verdict(False, "identity-based")
    if resource is Decision.DENY:
        return Verdict(False, "resource-based")
    return Verdict(Decision.ALLOW in identity or resource is Decision.ALLOW)


def policy_decision(policy: Policy, request: Request, resource_based: bool = False) -> Decision:
    """One policy's answer: DENY if a Deny statement applies, else ALLOW if an Allow
    does, else NONE."""
    decision = Decision.NONE
    for statement in statements(policy):
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            continue
        if not _statement_applies(statement, request, resource_based, effect == "Allow"):
            continue
        if effect == "Deny":
            return Decision.DENY
        decision = Decision.ALLOW
    return decision


def statements(policy: Policy) -> list[dict[str, Any]]:
    found = policy.get("Statement") if isinstance(policy, dict) else None
    listed = found if isinstance(found, list) else [found] if found is not None else []
    return [s for s in listed if isinstance(s, dict)]


def _statement_applies(
    statement: dict[str, Any], request: Request, resource_based: bool, allow: bool
) -> bool:
    if not _element_matches(statement, "Action", request.action, action_matches):
        return False
    context = request.context

    def resource_matches(pattern: str, resource: str) -> bool:
        resolved = substitute(pattern, context)
        return resolved is not None and arn_matches(resolved, resource)

    if not _element_matches(statement, "Resource", request.resource, resource_matches):
        return False
    if resource_based and not _principal_matches(statement, request.caller, allow):
        return False
    return conditions_hold(statement.get("Condition"), context)


def _element_matches(statement: dict[str, Any], name: str, value: str, match: Any) -> bool:
    """`Action`/`NotAction` (or `Resource`/`NotResource`) against the request's value.
    A statement with neither applies to nothing; a resource policy's statement
    without `Resource` applies to the resource it is attached to."""
    if name in statement:
        return any(match(p, value) for p in _strings(statement[name]))
    if f"Not{name}" in statement:
        return not any(match(p, value) for p in _strings(statement[f"Not{name}"]))
    return name == "Resource" and "Principal" in statement


def _principal_matches(statement: dict[str, Any], caller: Caller, allow: bool) -> bool:
    if "Principal" in statement:
        return _names_caller(statement["Principal"], caller, allow)
    if "NotPrincipal" in statement:
        return not _names_caller(statement["NotPrincipal"], caller, allow=False)
    return False


def _names_caller(principal: Any, caller: Caller, allow: bool) -> bool:
    """Whether a `Principal` value names the caller. For an Allow, naming only the
    caller's account does not count (it delegates to identity policies)."""
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for kind, listed in principal.items():
        for entry in _strings(listed):
            if kind == "Service" and caller.service is not None and entry == caller.service:
                return True
            if kind == "AWS" and _aws_principal_matches(entry, caller, allow):
                return True
    return False


def _aws_principal_matches(entry: str, caller: Caller, allow: bool) -> bool:
    if entry == "*":
        return True
    if caller.service is not None:
        return False
    if entry in (caller.arn, caller.role_arn) and entry is not None:
        return True
    names_account = entry == caller.account or entry == f"arn:aws:iam::{caller.account}:root"
    return names_account and caller.account is not None and not allow


def _strings(value: Any) -> Sequence[str]:
    listed = value if isinstance(value, list) else [value]
    return [str(v) for v in listed if isinstance(v, str)]
