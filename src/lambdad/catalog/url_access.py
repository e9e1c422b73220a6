"""Whether a function's resource policy lets the public call its function URL.

With AuthType NONE, Lambda authenticates nobody, but the resource policy of
the URL's function (or alias) still decides: since October 2025 it must allow
anyone (`Principal: "*"`) both `lambda:InvokeFunctionUrl` (for
`lambda:FunctionUrlAuthType` NONE) and `lambda:InvokeFunction` (for
`lambda:InvokedViaFunctionUrl` true), which is what `AddPermission` with
`FunctionUrlAuthType=NONE` and with `InvokedViaFunctionUrl=True` writes.
A statement counts only if every condition it has holds for a URL request;
an explicit Deny for anyone wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

URL_REQUEST_CONTEXT = {
    "lambda:functionurlauthtype": "NONE",
    "lambda:invokedviafunctionurl": "true",
}
REQUIRED_ACTIONS = ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction")


def public_url_allowed(statements: Iterable[dict[str, Any]]) -> bool:
    applying = [s for s in statements if _for_anyone(s) and _conditions_hold(s)]
    for action in REQUIRED_ACTIONS:
        matching = [s for s in applying if _names_action(s, action)]
        if any(s.get("Effect") == "Deny" for s in matching):
            return False
        if not any(s.get("Effect") == "Allow" for s in matching):
            return False
    return True


def _for_anyone(statement: dict[str, Any]) -> bool:
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        principal = principal.get("AWS")
    return principal == "*"


def _names_action(statement: dict[str, Any], action: str) -> bool:
    actions = statement.get("Action")
    listed = actions if isinstance(actions, list) else [actions]
    return any(a in (action, "lambda:*", "*") for a in listed)


def _conditions_hold(statement: dict[str, Any]) -> bool:
    """Only the keys a URL request has can hold (a SourceArn condition never does)."""
    condition = statement.get("Condition") or {}
    for operator, tests in condition.items():
        if operator not in ("StringEquals", "Bool") or not isinstance(tests, dict):
            return False
        for key, expected in tests.items():
            actual = URL_REQUEST_CONTEXT.get(str(key).lower())
            values = expected if isinstance(expected, list) else [expected]
            if actual is None or actual not in [str(v) for v in values]:
                return False
    return True
