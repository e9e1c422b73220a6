"""Targets: which of them lambdad can deliver to, and what each one receives.

lambdad delivers to Lambda functions of the rule's own region and account
(`arn:aws:lambda:REGION:ACCOUNT:function:NAME`, optionally `:VERSION` or
`:ALIAS`), through the durable asynchronous invoke queue. PutTargets answers
any other target in its FailedEntries, so nothing is accepted that would
never arrive. A target receives the event, or exactly one of its `Input`
(a JSON text), `InputPath` (a part of the event) or `InputTransformer`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lambdad.catalog import LATEST, Account
from lambdad.catalog.constraints import Violations
from lambdad.errors import ValidationError
from lambdad.events.model import TARGET_ID_PATTERN, Target
from lambdad.events.transform import (
    MISSING,
    Delivery,
    InvalidPath,
    check_template_variables,
    parse_path,
    render_template,
    resolve,
)

MAX_TARGETS_PER_RULE = 5
_LAMBDA_ARN = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?"
)
_ARN = re.compile(r"arn:[^:]+:[^:]+:[^:]*:[^:]*:.+")


@dataclass(frozen=True)
class FunctionTarget:
    """The function (and qualifier) a Lambda target ARN names."""

    name: str
    qualifier: str


@dataclass(frozen=True)
class Refusal:
    """A target PutTargets leaves out, as one of its FailedEntries."""

    target_id: str
    code: str
    message: str


def check_target(target: Target, index: int) -> None:
    """The request-wide checks of one target: AWS refuses the whole call for these."""
    violations = Violations()
    member = f"targets.{index + 1}.member"
    violations.string(target.id, f"{member}.id", 1, 64, TARGET_ID_PATTERN)
    violations.string(target.arn, f"{member}.arn", 1, 1600)
    violations.raise_if_any()
    if not _ARN.fullmatch(target.arn):
        raise ValidationError(
            f"Parameter {target.arn} is not valid. Reason: Provided Arn is not in correct format."
        )
    given = [x for x in (target.input, target.input_path, target.input_transformer) if x]
    if len(given) > 1:
        raise ValidationError("Only one of Input, InputPath, or InputTransformer must be provided.")
    if target.input is not None:
        try:
            json.loads(target.input)
        except ValueError as exc:
            raise ValidationError(
                f"Input for target {target.id} is not valid JSON text: {exc}"
            ) from exc
    if target.input_path is not None:
        _check_path(target.input_path, f"InputPath for target {target.id}")
    if target.input_transformer is not None:
        reason = check_template_variables(target.input_transformer.input_paths_map or {})
        if reason is not None:
            raise ValidationError(f"InputTransformer for target {target.id}: {reason}")


def _check_path(path: str, what: str) -> None:
    try:
        parse_path(path)
    except InvalidPath as exc:
        raise ValidationError(f"{what} is not a valid JSON path: {path}") from exc


def deliverable(target: Target, account: Account) -> Refusal | None:
    """Why lambdad cannot deliver to `target` from `account`'s region, or None."""
    function = _LAMBDA_ARN.fullmatch(target.arn)
    if function is None:
        return Refusal(
            target.id,
            "ValidationException",
            f"Target {target.arn} is not a Lambda function: lambdad delivers to Lambda "
            "function targets only.",
        )
    if (function.group("region"), function.group("account")) != (
        account.region,
        account.account_id,
    ):
        return Refusal(
            target.id,
            "ValidationException",
            f"Target {target.arn} is not a function of this rule's region and account "
            f"({account.region}, {account.account_id}).",
        )
    return None


def function_of(arn: str) -> FunctionTarget:
    """The function a (deliverable) Lambda target ARN names."""
    match = _LAMBDA_ARN.fullmatch(arn)
    assert match is not None, arn
    return FunctionTarget(match.group("name"), match.group("qualifier") or LATEST)


def target_input(target: Target, event: Mapping[str, Any], delivery: Delivery) -> bytes:
    """The bytes `target` receives for `event` (see the module doc)."""
    if target.input is not None:
        return target.input.encode()
    if target.input_transformer is not None:
        transformer = target.input_transformer
        paths = transformer.input_paths_map or {}
        return render_template(transformer.input_template, paths, event, delivery)
    if target.input_path is not None:
        value = resolve(target.input_path, event)
        return json.dumps(None if value is MISSING else value, separators=(",", ":")).encode()
    return json.dumps(event, separators=(",", ":")).encode()
