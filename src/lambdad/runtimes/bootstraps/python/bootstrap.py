"""lambdad's Python runtime: AWS's handler semantics over the Lambda Runtime API.

Standalone and stdlib-only (it runs inside the sandbox on the chosen Python and
imports nothing from lambdad). It behaves like AWS's `awslambdaric`: the same
handler string rules, context object, response marshalling, error JSON, init
errors and log format.
"""

from __future__ import annotations

import base64
import decimal
import http.client
import importlib
import json
import logging
import os
import socket
import sys
import time
import traceback
from typing import Any

API = "/2018-06-01/runtime"


class FaultError(Exception):
    """A runtime-level failure reported with AWS's error type (Runtime.*)."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


# ---- Runtime API client --------------------------------------------------------------------


class _Connection(http.client.HTTPConnection):
    def connect(self) -> None:
        super().connect()
        # Small request/response pairs: don't let Nagle wait for a delayed ACK.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class RuntimeClient:
    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.host, self.port = host, int(port)
        self.conn = _Connection(self.host, self.port)

    def _request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request(method, API + path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                return resp.status, resp.headers, resp.read()
            except (ConnectionError, http.client.HTTPException):
                # A dropped keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = _Connection(self.host, self.port)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def next(self) -> tuple[http.client.HTTPMessage, bytes]:
        status, headers, body = self._request("GET", "/invocation/next")
        if status != 200:
            raise RuntimeError(f"/invocation/next returned {status}: {body!r}")
        return headers, body

    def post_response(self, request_id: str, body: bytes, content_type: str) -> None:
        self._request(
            "POST",
            f"/invocation/{request_id}/response",
            body,
            {"Content-Type": content_type},
        )

    def post_error(self, request_id: str, error: dict) -> None:
        self._request(
            "POST",
            f"/invocation/{request_id}/error",
            json.dumps(error).encode(),
            {"Lambda-Runtime-Function-Error-Type": error["errorType"]},
        )

    def post_init_error(self, error: dict) -> None:
        self._request(
            "POST",
            "/init/error",
            json.dumps(error).encode(),
            {"Lambda-Runtime-Function-Error-Type": error["errorType"]},
        )


# ---- Handler ---------------------------------------------------------------------------------


def parse_handler(handler: str) -> tuple[str, str]:
    """ "pkg/mod.func" or "pkg.mod.func" → ("pkg.mod", "func"), as awslambdaric splits it."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise FaultError(
            "Runtime.MalformedHandlerName", f"Bad handler '{handler}': {exc}"
        ) from None
    return modname.replace("/", "."), fname


def load_handler(handler: str) -> Any:
    modname, fname = parse_handler(handler)
    if modname.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            "Runtime.BuiltInModuleConflict",
            f"Cannot use built-in module {modname} as a handler module",
        )
    try:
        module = importlib.import_module(modname)
    except ImportError as exc:
        raise FaultError(
            "Runtime.ImportModuleError", f"Unable to import module '{modname}': {exc}"
        ) from None
    except SyntaxError as exc:
        trace = [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}']
        raise FaultError(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{modname}': {exc}", trace
        ) from None
    func = getattr(module, fname, None)
    if func is None:
        raise FaultError(
            "Runtime.HandlerNotFound", f"Handler '{fname}' missing on module '{modname}'"
        )
    return func


# ---- Context ---------------------------------------------------------------------------------


class Client:
    def __init__(self, data: dict) -> None:
        self.installation_id = data.get("installation_id")
        self.app_title = data.get("app_title")
        self.app_version_name = data.get("app_version_name")
        self.app_version_code = data.get("app_version_code")
        self.app_package_name = data.get("app_package_name")


class ClientContext:
    def __init__(self, data: dict) -> None:
        client = data.get("client")
        self.client = Client(client) if isinstance(client, dict) else None
        self.custom = data.get("custom")
        self.env = data.get("env")


class CognitoIdentity:
    def __init__(self, data: dict | None) -> None:
        data = data or {}
        self.cognito_identity_id = data.get("cognitoIdentityId")
        self.cognito_identity_pool_id = data.get("cognitoIdentityPoolId")


class LambdaContext:
    def __init__(
        self,
        request_id: str,
        deadline_ms: int,
        invoked_function_arn: str,
        client_context: dict | None,
        cognito_identity: dict | None,
    ) -> None:
        env = os.environ
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        # A string, as in awslambdaric.
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.client_context = ClientContext(client_context) if client_context else None
        self.identity = CognitoIdentity(cognito_identity)
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},function_version={self.function_version}])"
        )


def _json_header(value: str | None) -> dict | None:
    if not value:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        try:  # tolerate the raw base64 form of X-Amz-Client-Context
            data = json.loads(base64.b64decode(value))
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


# ---- Results and errors ----------------------------------------------------------------------


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def marshal_response(result: Any) -> tuple[bytes, str]:
    """bytes go out as they are; anything else as JSON (awslambdaric's rules)."""
    if isinstance(result, bytes):
        return result, "application/unknown"
    try:
        return json.dumps(result, cls=_Encoder).encode(), "application/json"
    except (TypeError, ValueError) as exc:
        raise FaultError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from None


def error_result(exc: BaseException, request_id: str) -> dict:
    if isinstance(exc, FaultError):
        return {
            "errorMessage": exc.message,
            "errorType": exc.error_type,
            "requestId": request_id,
            "stackTrace": exc.trace,
        }
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def log_error(error: dict) -> None:
    line = (
        "[ERROR] "
        + error["errorType"]
        + (": " + error["errorMessage"] if error["errorMessage"] else "")
    )
    lines = [line, "Traceback (most recent call last):"]
    for element in error.get("stackTrace") or []:
        lines.extend(element.splitlines())
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()


# ---- Logging ---------------------------------------------------------------------------------


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _RequestIdFilter.request_id
        return True


def setup_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    if level:
        root.setLevel(level.upper())


# ---- Loop ------------------------------------------------------------------------------------


def handle_one(client: RuntimeClient, handler: Any) -> None:
    headers, body = client.next()
    request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
    _RequestIdFilter.request_id = request_id
    trace_id = headers.get("Lambda-Runtime-Trace-Id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    context = LambdaContext(
        request_id,
        int(headers.get("Lambda-Runtime-Deadline-Ms") or 0),
        headers.get("Lambda-Runtime-Invoked-Function-Arn", ""),
        _json_header(headers.get("Lambda-Runtime-Client-Context")),
        _json_header(headers.get("Lambda-Runtime-Cognito-Identity")),
    )
    try:
        try:
            event = json.loads(body) if body else {}
        except ValueError as exc:
            raise FaultError(
                "Runtime.UnmarshalError", f"Unable to unmarshal input: {exc}"
            ) from None
        payload, content_type = marshal_response(handler(event, context))
    except Exception as exc:
        error = error_result(exc, request_id)
        log_error(error)
        _flush()
        client.post_error(request_id, error)
        return
    _flush()
    client.post_response(request_id, payload, content_type)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def main() -> None:
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    # sys.path[0] is this file's dir; the function's code takes its place (AWS order).
    sys.path[0] = task_root
    setup_logging()
    client = RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except Exception as exc:
        error = error_result(exc, "")
        if not isinstance(exc, FaultError):
            error["stackTrace"] = traceback.format_list(traceback.extract_tb(exc.__traceback__))
        log_error(error)
        client.post_init_error(error)
        sys.exit(1)
    while True:
        handle_one(client, handler)


if __name__ == "__main__":
    main()
