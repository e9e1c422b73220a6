"""The operation table: every route says which IAM action it is, and every Lambda
action is named after an operation of botocore's Lambda model."""

from __future__ import annotations

from typing import Any

import botocore.loaders
from starlette.routing import Route

from lambdad.api.authorization import OPERATIONS, PUBLIC
from lambdad.api.routes import routes

MODEL: dict[str, Any] = botocore.loaders.Loader().load_service_model("lambda", "service-2")
# IAM names a few actions differently from their operation.
ACTION_OF_OPERATION = {"Invoke": "InvokeFunction"}


def test_every_route_has_an_operation() -> None:
    missing = [
        route.path
        for route in routes
        if isinstance(route, Route) and route.endpoint not in OPERATIONS
    ]
    assert missing == []


def test_lambda_actions_are_named_after_botocore_operations() -> None:
    names = {ACTION_OF_OPERATION.get(op, op) for op in MODEL["operations"]}
    actions = {op.action for op in OPERATIONS.values() if op is not PUBLIC}
    lambda_actions = {a.removeprefix("lambda:") for a in actions if a.startswith("lambda:")}
    assert lambda_actions - names == set()
