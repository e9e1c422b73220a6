"""Every `LambdadError` renders as an error AWS really sends, with AWS's status.

Like httpx's test that every httpcore exception is mapped: walk every subclass
(after importing all of lambdad so every part's errors exist) and check its
`code` and `status` against botocore's Lambda model.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import Any

import botocore.loaders
import pytest

import lambdad
from lambdad.api.errors import error_response
from lambdad.errors import LambdadError, TooManyRequests

# Codes AWS sends that botocore's Lambda model does not list, with their status.
NOT_IN_MODEL = {
    "ValidationException": 400,
    "RequestEntityTooLargeException": 413,
    "AccessDeniedException": 403,
    "UnknownOperationException": 404,
    # EventBridge Scheduler's (botocore's scheduler model)
    "ConflictException": 409,
    # Authentication's, common to every AWS API (iam/sigv4.py)
    "MissingAuthenticationTokenException": 403,
    "IncompleteSignatureException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "ExpiredTokenException": 403,
    "MalformedPolicyDocument": 400,  # IAM's, for a role's policy (the CLI shows it)
}


def _import_all() -> None:
    for module in pkgutil.walk_packages(lambdad.__path__, "lambdad."):
        if ".bootstraps" in module.name or module.name.endswith(".migrations.env"):
            continue  # standalone bootstraps, and Alembic's script (runs on import)
        importlib.import_module(module.name)


def _subclasses(cls: type[LambdadError]) -> list[type[LambdadError]]:
    found: list[type[LambdadError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _model_statuses(service: str = "lambda") -> dict[str, int]:
    """Error codes of a service's model with their status; the JSON protocol's (events)
    model names none: its client errors are 400, its faults 500."""
    model: dict[str, Any] = botocore.loaders.Loader().load_service_model(service, "service-2")
    return {
        name: shape.get("error", {}).get("httpStatusCode", 500 if shape.get("fault") else 400)
        for name, shape in model["shapes"].items()
        if shape.get("exception")
    }


_import_all()
ERRORS: list[type[LambdadError]] = [LambdadError, *_subclasses(LambdadError)]
MODEL = _model_statuses()
MODELS = {
    "lambda": MODEL,
    "events": _model_statuses("events"),
    "logs": _model_statuses("logs"),
    "cloudwatch": _model_statuses("cloudwatch"),
    "xray": _model_statuses("xray"),
}


def test_the_walk_finds_the_tree() -> None:
    codes = {cls.code for cls in ERRORS}
    assert {"ResourceNotFoundException", "ValidationException", "ServiceException"} <= codes
    assert len(ERRORS) >= 11


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_code_and_status_match_aws(cls: type[LambdadError]) -> None:
    model = MODELS[getattr(cls, "service", "lambda")]
    if cls.code in model:
        assert cls.status == model[cls.code], f"{cls.code} is {model[cls.code]} in botocore"
    else:
        assert cls.code in NOT_IN_MODEL, f"{cls.code} is neither in botocore's model nor allowed"
        assert cls.status == NOT_IN_MODEL[cls.code]


def test_allow_list_holds_only_what_the_model_lacks() -> None:
    assert not set(NOT_IN_MODEL) & set(MODEL)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_rendering(cls: type[LambdadError]) -> None:
    response = error_response(cls.code, cls.status, "the message")
    assert response.status_code == cls.status
    assert response.headers["x-amzn-ErrorType"] == cls.code
    assert response.media_type == "application/json"
    body = json.loads(bytes(response.body))
    expected = {"Type": "User" if cls.status < 500 else "Service", "message": "the message"}
    if cls.code == "ResourceNotFoundException":
        expected["Message"] = "the message"  # AWS's body spells it so
    assert body == expected


def test_throttle_carries_its_reason() -> None:
    import anyio

    from lambdad.api.errors import handle_lambdad_error

    async def render() -> Any:
        return await handle_lambdad_error(None, TooManyRequests("Rate exceeded"))  # type: ignore[arg-type]

    response = anyio.run(render)
    assert response.status_code == 429
    assert response.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    assert json.loads(bytes(response.body))["Reason"] == (
        "ReservedFunctionConcurrentInvocationLimitExceeded"
    )
