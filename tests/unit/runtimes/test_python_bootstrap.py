"""The python runtime's pure parts: handler strings, marshalling, error JSON."""

from __future__ import annotations

import decimal
import importlib.util
import json
from types import ModuleType

import pytest

from lambdad.runtimes.launch import BOOTSTRAP_DIR


@pytest.fixture(scope="module")
def boot() -> ModuleType:
    path = BOOTSTRAP_DIR / "python" / "bootstrap.py"
    spec = importlib.util.spec_from_file_location("lambdad_py_bootstrap", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("app.handler", ("app", "handler")),
        ("pkg/mod.fn", ("pkg.mod", "fn")),
        ("pkg.sub.mod.fn", ("pkg.sub.mod", "fn")),
    ],
)
def test_parse_handler(boot: ModuleType, handler: str, expected: tuple[str, str]) -> None:
    assert boot.parse_handler(handler) == expected


def test_malformed_handler(boot: ModuleType) -> None:
    with pytest.raises(boot.FaultError) as info:
        boot.parse_handler("nodot")
    assert info.value.error_type == "Runtime.MalformedHandlerName"
    assert info.value.message == (
        "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"
    )


def test_import_module_error(boot: ModuleType) -> None:
    with pytest.raises(boot.FaultError) as info:
        boot.load_handler("surely_not_a_module_xyz.handler")
    assert info.value.error_type == "Runtime.ImportModuleError"
    assert info.value.message == (
        "Unable to import module 'surely_not_a_module_xyz': "
        "No module named 'surely_not_a_module_xyz'"
    )


def test_handler_not_found(boot: ModuleType) -> None:
    with pytest.raises(boot.FaultError) as info:
        boot.load_handler("json.nope")
    assert info.value.error_type == "Runtime.HandlerNotFound"
    assert info.value.message == "Handler 'nope' missing on module 'json'"


def test_marshal_response(boot: ModuleType) -> None:
    assert boot.marshal_response(b"\x00\xff") == (b"\x00\xff", "application/unknown")
    assert boot.marshal_response("hi") == (b'"hi"', "application/json")
    assert boot.marshal_response(None) == (b"null", "application/json")
    assert boot.marshal_response({"d": decimal.Decimal("1.5")})[0] == b'{"d": 1.5}'
    with pytest.raises(boot.FaultError) as info:
        boot.marshal_response({"s": {1, 2}})
    assert info.value.error_type == "Runtime.MarshalError"


def test_error_result_shape(boot: ModuleType) -> None:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError as exc:
        error = boot.error_result(exc, "req-1")
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert error["errorType"] == "ZeroDivisionError"
    assert error["errorMessage"] == "division by zero"
    assert error["requestId"] == "req-1"
    assert error["stackTrace"][0].startswith('  File "')
    json.dumps(error)


def test_context_client_context(boot: ModuleType) -> None:
    ctx = boot.LambdaContext(
        "r", 0, "arn", {"client": {"app_title": "t"}, "custom": {"a": 1}, "env": {"e": 2}}, None
    )
    assert ctx.client_context.client.app_title == "t"
    assert ctx.client_context.custom == {"a": 1} and ctx.client_context.env == {"e": 2}
    assert ctx.identity.cognito_identity_id is None
    assert ctx.get_remaining_time_in_millis() == 0
