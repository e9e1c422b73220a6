"""lambdad's Python runtime: AWS's handler semantics over the Lambda Runtime API.

Standalone and stdlib-only (it runs inside the sandbox on the chosen Python and
imports nothing from lambdad). It behaves like AWS's `awslambdaric`: the same
handler string rules, context object, response marshalling, error JSON, init
errors and log format.

It runs on every cold start before the function's own code, so it imports
what every invocation needs and nothing more: `json`, and a small HTTP/1.1
client on a raw socket (`http.client` pulls in `email`, `ssl`... ~30 ms).

When lambdad's init started it, it talks over a private channel instead of
HTTP (`PrivateClient`: the same calls as frames on a socketpair, whose fd init
names in `_LAMBDAD_RUNTIME_FD`; its other end is the host's, or init's); anywhere
else, over the Runtime API at AWS_LAMBDA_RUNTIME_API.
`logging` is set up the moment the function imports it (an import hook), so a
function that never logs never pays for it; `traceback`, `base64` and
`decimal` are imported on the paths that need them.
"""

from __future__ import annotations

import _socket
import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

API = "/2018-06-01/runtime"
PRIVATE_FD_ENV = "_LAMBDAD_RUNTIME_FD"
"""Set by lambdad's init (its RUNTIME_FD_ENV): our end of the private channel."""
TEMPLATE_FD_ENV = "_LAMBDAD_TEMPLATE_FD"
"""Set by lambdad's init (its TEMPLATE_FD_ENV) in a template: its fork channel."""
PRE_INIT_ENV = "_LAMBDAD_PRE_INIT"
"""Set by the host in an on-demand template: fork before Init, which each child runs."""
AFTER_RESTORE_ERROR = "Runtime.AfterRestoreError"
"""The error type of an after-restore hook that raised."""
_HERE = (lambda: None).__code__.co_filename
"""This file as its frames name it (also when it runs from a precompiled .pyc)."""


class FaultError(Exception):
    """A runtime-level failure reported with AWS's error type (Runtime.*)."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


# ---- Runtime API client --------------------------------------------------------------------


class ProtocolError(Exception):
    """The Runtime API's reply was not HTTP/1.x we understand (or the connection dropped)."""


class RuntimeClient:
    """A keep-alive HTTP/1.1 client for the Runtime API on one TCP connection.

    Requests carry Content-Length bodies; responses may use Content-Length,
    chunked transfer encoding, or run until the server closes. Header names
    come back lower-cased. A request on a dropped keep-alive connection is
    retried once on a new connection (http.client's behaviour).
    """

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self.host_header = address
        host = host[1:-1] if host.startswith("[") else host
        self.family = _socket.AF_INET6 if ":" in host else _socket.AF_INET
        self.address = (host, int(port))
        self.sock: _socket.socket | None = None
        self.buf = bytearray()

    def _connect(self) -> _socket.socket:
        sock = _socket.socket(self.family, _socket.SOCK_STREAM)
        try:
            sock.connect(self.address)
            # Small request/response pairs: don't let Nagle wait for a delayed ACK.
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        self.buf.clear()
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf.clear()

    def _request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        head = f"{method} {API}{path} HTTP/1.1\r\nHost: {self.host_header}\r\n"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        if body is not None:
            head += f"Content-Length: {len(body)}\r\n"
        data = head.encode("latin-1") + b"\r\n"
        for attempt in (1, 2):
            try:
                if self.sock is None:
                    self.sock = self._connect()
                if body and len(body) > 65536:
                    self.sock.sendall(data)
                    self.sock.sendall(body)
                else:
                    self.sock.sendall(data + body if body else data)
                return self._response(method)
            except (ConnectionError, ProtocolError):
                # A dropped keep-alive connection: reconnect once.
                self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _fill(self) -> None:
        assert self.sock is not None
        data = self.sock.recv(65536)
        if not data:
            raise ProtocolError("Remote end closed connection without response")
        self.buf += data

    def _line(self) -> bytes:
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[: i + 1])
                del self.buf[: i + 1]
                return line
            if len(self.buf) > 65536:
                raise ProtocolError("header line too long")
            start = len(self.buf)
            self._fill()

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _response(self, method: str) -> tuple[int, dict[str, str], bytes]:
        while True:
            version, _, rest = self._line().decode("latin-1").partition(" ")
            if not version.startswith("HTTP/1."):
                raise ProtocolError(f"bad status line: {version} {rest}".rstrip())
            try:
                status = int(rest.split(None, 1)[0])
            except (ValueError, IndexError):
                raise ProtocolError(f"bad status line: {version} {rest}".rstrip()) from None
            headers: dict[str, str] = {}
            while True:
                line = self._line()
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                value = value.strip()
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            if not 100 <= status < 200:
                break  # 1xx: an interim response; the real one follows
        connection = headers.get("connection", "").lower()
        close = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            body = self._chunked()
        elif "content-length" in headers:
            try:
                body = self._read(int(headers["content-length"]))
            except ValueError:
                raise ProtocolError("bad Content-Length") from None
        else:  # the body runs until the server closes
            close = True
            while True:
                try:
                    self._fill()
                except ProtocolError:
                    break
            body = bytes(self.buf)
            self.buf.clear()
        if close:
            self.close()
        return status, headers, body

    def _chunked(self) -> bytes:
        parts = []
        while True:
            try:
                size = int(self._line().split(b";")[0].strip() or b"0", 16)
            except ValueError:
                raise ProtocolError("bad chunk size") from None
            if size == 0:
                while self._line() not in (b"\r\n", b"\n"):
                    pass  # trailers
                return b"".join(parts)
            parts.append(self._read(size))
            self._line()

    def next(self) -> tuple[dict[str, str], bytes]:
        """The next event and its headers (names lower-cased)."""
        status, headers, body = self._request("GET", "/invocation/next")
        if status != 200:
            raise RuntimeError(f"/invocation/next returned {status}: {body!r}")
        return headers, body

    def next_invocation(self) -> tuple[dict, bytes]:
        """The next event and its invocation's fields, named as `PrivateClient`'s."""
        headers, body = self.next()
        return {
            "request_id": headers.get("lambda-runtime-aws-request-id", ""),
            "deadline_ms": headers.get("lambda-runtime-deadline-ms"),
            "invoked_function_arn": headers.get("lambda-runtime-invoked-function-arn", ""),
            "trace_id": headers.get("lambda-runtime-trace-id"),
            "client_context": headers.get("lambda-runtime-client-context"),
            "cognito_identity": headers.get("lambda-runtime-cognito-identity"),
        }, body

    def post_response(
        self, request_id: str, body: bytes, content_type: str, hold: bool = False
    ) -> None:
        """`hold` is the private channel's (HTTP waits for its reply anyway)."""
        self._request(
            "POST",
            f"/invocation/{request_id}/response",
            body,
            {"Content-Type": content_type},
        )

    def post_error(self, request_id: str, error: dict, hold: bool = False) -> None:
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


class PrivateClient:
    """The Runtime API's calls as frames on the private channel (a socketpair fd whose
    other end is the host's or init's: the frames are the same).

    Frames: u32 header length | u32 body length | JSON header (has "type") | raw
    body. We send "next", "response" {request_id}, "error" {request_id,
    error_type}, "init_error" {error_type}; we get the host's invoke frame
    ({request_id, deadline_ms, invoked_function_arn, trace_id, client_context,
    cognito_identity} + event), and "ack" for an init error.
    Posts get no reply (the HTTP client ignores their status too).
    """

    NEXT = b'\x00\x00\x00\x10\x00\x00\x00\x00{"type": "next"}'
    """The "next" frame, whole (it never changes)."""

    def __init__(self, fd: int) -> None:
        os.set_inheritable(fd, False)  # the function's child processes don't get it
        self.sock = _socket.socket(fileno=fd)
        self.buf = bytearray()
        self.held = b""  # a small result frame, sent with the "next" that follows it

    def _send(self, header: dict, body: bytes = b"", hold: bool = False) -> None:
        """Send a frame; `hold`: keep a small one to go out with the next "next" (one
        write, and init reads both at once) - only when that ask follows at once."""
        raw = json.dumps(header).encode()
        data = self.held + len(raw).to_bytes(4, "big") + len(body).to_bytes(4, "big") + raw
        self.held = b""
        if len(body) > 65536:
            self.sock.sendall(data)
            self.sock.sendall(body)
        elif hold:
            self.held = data + body
        else:
            self.sock.sendall(data + body)

    def _read(self, n: int) -> bytes:
        buf = self.buf
        while len(buf) < n:
            data = self.sock.recv(min(max(n - len(buf), 65536), 1 << 20))
            if not data:
                raise ConnectionError("init closed the runtime channel")
            buf += data
        data = bytes(buf[:n])
        del buf[:n]
        return data

    def _recv(self) -> tuple[dict, bytes]:
        prefix = self._read(8)
        header = json.loads(self._read(int.from_bytes(prefix[:4], "big")))
        body_len = int.from_bytes(prefix[4:], "big")
        return header, self._read(body_len) if body_len else b""

    def next_invocation(self) -> tuple[dict, bytes]:
        """The next event and its invocation's fields (the host's invoke frame header)."""
        data, self.held = self.held + self.NEXT, b""
        self.sock.sendall(data)
        return self._recv()

    def post_response(
        self, request_id: str, body: bytes, content_type: str, hold: bool = False
    ) -> None:
        """`hold`: the caller asks for the next event right after (see `_send`)."""
        self._send({"type": "response", "request_id": request_id}, body, hold)

    def post_error(self, request_id: str, error: dict, hold: bool = False) -> None:
        header = {"type": "error", "request_id": request_id, "error_type": error["errorType"]}
        self._send(header, json.dumps(error).encode(), hold)

    def post_init_error(self, error: dict) -> None:
        self._send(
            {"type": "init_error", "error_type": error["errorType"]}, json.dumps(error).encode()
        )
        self._recv()  # the ack: init has it before we exit

    def assignment(self) -> tuple[dict, dict]:
        """(header, environment) of the function this parked runtime is given (see
        `adopt`): the first frame init relays, before we ask for any event."""
        self._send({"type": "parked"})
        header, body = self._recv()
        if header.get("type") != "assign":
            raise ConnectionError(f"expected an assignment, got {header.get('type')!r}")
        return header, json.loads(body)


def runtime_client() -> RuntimeClient | PrivateClient:
    """init's private channel when it gave us one (the variable leaves our environment
    before the function's code runs), else the Runtime API over HTTP."""
    fd = os.environ.pop(PRIVATE_FD_ENV, None)
    if fd is not None:
        return PrivateClient(int(fd))
    return RuntimeClient(os.environ["AWS_LAMBDA_RUNTIME_API"])


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
        if modname.startswith("."):  # import_module's own error for a relative name
            import importlib

            module = importlib.import_module(modname)
        else:  # importlib.import_module, without importing importlib
            __import__(modname)
            module = sys.modules[modname]
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
        import base64

        try:  # tolerate the raw base64 form of X-Amz-Client-Context
            data = json.loads(base64.b64decode(value))
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


# ---- Results and errors ----------------------------------------------------------------------


class _Encoder(json.JSONEncoder):
    def default(self, o: Any) -> Any:
        decimal = sys.modules.get("decimal")  # a Decimal means it is imported already
        if decimal is not None and isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


_ENCODER = _Encoder()
"""json.dumps(result, cls=_Encoder)'s encoder, made once."""


def marshal_response(result: Any) -> tuple[bytes, str]:
    """bytes go out as they are; anything else as JSON (awslambdaric's rules)."""
    if isinstance(result, bytes):
        return result, "application/unknown"
    try:
        return _ENCODER.encode(result).encode(), "application/json"
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
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != _HERE]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def log_error(error: dict) -> None:
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT") == "JSON":
        # awslambdaric's JSON record of an unhandled error (its time to the second).
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        sys.stdout.write(json.dumps({"timestamp": stamp, "level": "ERROR", **error}) + "\n")
        sys.stdout.flush()
        return
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


_request_id = ""
"""The current invocation's id, for the log handler's records."""


def setup_logging(logging: Any) -> None:
    """Lambda's root handler on stdout: `[LEVEL]\\tTIME\\tREQUEST_ID\\tMESSAGE`, or AWS's
    JSON records when the function's LogFormat is JSON; the root logger's level is
    AWS_LAMBDA_LOG_LEVEL's (TRACE is DEBUG to Python, FATAL its CRITICAL)."""

    class _RequestIdFilter(logging.Filter):
        def filter(self, record: Any) -> bool:
            record.aws_request_id = _request_id
            return True

    handler = logging.StreamHandler(sys.stdout)
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT") == "JSON":
        formatter = _json_formatter(logging)()
    else:
        formatter = logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
        formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    level = {"TRACE": "DEBUG"}.get(level, level)
    if isinstance(logging.getLevelName(level), int):  # a level's name (else: left alone)
        root.setLevel(level)


def _json_formatter(logging: Any) -> Any:
    """AWS's JSON record of a log record: timestamp, level, message, logger, requestId,
    the exception's errorType/errorMessage/stackTrace/location, and the record's extras."""
    import traceback

    standard = set(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
    standard |= {"message", "asctime", "aws_request_id"}

    class JsonFormatter(logging.Formatter):
        def format(self, record: Any) -> str:
            levelno = min(50, max(0, record.levelno)) // 10 * 10
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            fields: dict = {
                "timestamp": f"{stamp}.{int(record.msecs):03d}Z",
                "level": logging.getLevelName(levelno),
                "message": record.getMessage(),
                "logger": record.name,
            }
            if record.exc_info:
                fields["stackTrace"] = traceback.format_tb(record.exc_info[2])
                fields["errorType"] = record.exc_info[0].__name__
                fields["errorMessage"] = str(record.exc_info[1])
            fields["requestId"] = getattr(record, "aws_request_id", None) or None
            if record.exc_info:
                fields["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
            for key, value in vars(record).items():
                if key not in standard and key not in fields:
                    fields[key] = value
            fields = {key: value for key, value in fields.items() if value is not None}
            return json.dumps(fields, default=str, ensure_ascii=False)

    return JsonFormatter


class LoggingHook:
    """A meta path finder that runs `setup_logging` right after `logging` is first imported.

    AWS's runtime installs its root handler at startup; doing it when the
    function imports `logging` is the same as far as the function can tell
    (the handler is there before its first line using `logging` runs, so
    `logging.basicConfig()` is a no-op as on Lambda) and saves the import
    for functions that never log.
    """

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "logging":
            return None
        self.remove()
        for finder in sys.meta_path:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, path, target) if find_spec else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _SetupAfterExec(spec.loader)
        return spec

    def install(self) -> None:
        if "logging" in sys.modules:
            setup_logging(sys.modules["logging"])
        else:
            sys.meta_path.insert(0, self)

    def remove(self) -> None:
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass


class _SetupAfterExec:
    """Wraps logging's loader; puts the real one back once the module has run."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        setup_logging(module)


# ---- Loop ------------------------------------------------------------------------------------


def handle_one(client: RuntimeClient | PrivateClient, handler: Any) -> None:
    global _request_id
    invocation, body = client.next_invocation()
    request_id = invocation.get("request_id") or ""
    _request_id = request_id
    trace_id = invocation.get("trace_id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    context = LambdaContext(
        request_id,
        int(invocation.get("deadline_ms") or 0),
        invocation.get("invoked_function_arn") or "",
        _json_header(invocation.get("client_context")),
        _json_header(invocation.get("cognito_identity")),
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
        client.post_error(request_id, error, hold=True)
        return
    _flush()
    # hold: main() asks for the next event at once (the private channel sends both in one).
    client.post_response(request_id, payload, content_type, hold=True)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def set_sys_path(argv: list[str]) -> None:
    """AWS's search path: the function's code, the layers' dirs, the runtime's
    site-packages (its SDK), then PYTHONPATH's (/var/runtime) and the standard
    library. `argv` may name the dir seen as /opt ("--opt DIR")."""
    import site

    opt = argv[argv.index("--opt") + 1] if "--opt" in argv else "/opt"
    task_root = os.environ.get("LAMBDA_TASK_ROOT", "/var/task")
    major, minor = sys.version_info[:2]
    layer_site = f"{opt}/python/lib/python{major}.{minor}/site-packages"
    first = [task_root, layer_site, opt + "/python"]
    first += [p for p in site.getsitepackages() if p in sys.path]
    # sys.path[0] is this file's dir: it goes; the function's code takes its place.
    sys.path[:] = first + [p for p in sys.path[1:] if p not in first]
    # A layer's site-packages is a site dir on Lambda: its .pth files count.
    site.addsitedir(layer_site)


def adopt(client: PrivateClient, argv: list[str]) -> None:
    """A parked runtime (started ahead of its function, `--park`) becomes the function's:
    its environment, cwd and search path as a runtime started for it would have had.

    The host parks only runtimes whose interpreter would have started the same way
    (same PYTHON*/LANG/LC_*/LD_* variables): what differs is applied here, before
    any of the function's code runs."""
    header, env = client.assignment()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(header.get("cwd") or env.get("LAMBDA_TASK_ROOT", "/var/task"))
    time.tzset()
    # /var/task and /opt were empty until now: forget what the finders saw there.
    sys.path_importer_cache.clear()
    set_sys_path(argv)


def main() -> None:
    argv = sys.argv[1:]
    parked = "--park" in argv
    # An on-demand template forks before Init, and before anything of the function's
    # (its layers' .pth files) runs: each child sets its search path and runs Init.
    pre_init = os.environ.pop(PRE_INIT_ENV, None) is not None and TEMPLATE_FD_ENV in os.environ
    if not parked and not pre_init:
        set_sys_path(argv)
    LoggingHook().install()
    client = runtime_client()
    if parked and isinstance(client, PrivateClient):
        adopt(client, argv)
    if pre_init and isinstance(client, PrivateClient):
        client = fork_before_init(client, int(os.environ.pop(TEMPLATE_FD_ENV)), argv)
    try:
        handler = load_handler(os.environ.get("_HANDLER", ""))
    except Exception as exc:
        error = error_result(exc, "")
        if not isinstance(exc, FaultError):
            import traceback

            error["stackTrace"] = traceback.format_list(traceback.extract_tb(exc.__traceback__))
        log_error(error)
        client.post_init_error(error)
        sys.exit(1)
    template = os.environ.pop(TEMPLATE_FD_ENV, None)
    if template is not None and isinstance(client, PrivateClient):
        client = snapshot_and_restore(client, int(template))
    while True:
        handle_one(client, handler)


def snapshot_and_restore(client: PrivateClient, control_fd: int) -> PrivateClient:
    """A SnapStart template: run the before-snapshot hooks, tell init Init is over (the
    host keeps us as the version's template), then fork an environment per command of
    the host's (`restore.py`). Returns in each restored environment: its own client,
    after its environment is set and the after-restore hooks ran."""
    os.set_inheritable(control_fd, False)
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR", "/var/runtime")
    sys.path.insert(0, runtime_dir + "/python")
    try:
        import restore
    finally:
        del sys.path[0]
    hooks = sys.modules.get("snapshot_restore_py")
    try:
        restore.prepare(runtime_dir)
        if hooks is not None:  # in the reverse order of their registration, as AWS's
            before = hooks.get_before_snapshot()
            restore.run_hooks(before[::-1])
            before.clear()
    except Exception as exc:
        error = error_result(exc, "")
        log_error(error)
        client.post_init_error(error)
        sys.exit(1)
    restored = serve_as_template(client, restore, control_fd)
    if hooks is not None:
        try:
            restore.run_hooks(hooks.get_after_restore())
        except Exception as exc:
            error = error_result(exc, "")
            error["errorType"] = AFTER_RESTORE_ERROR
            log_error(error)
            restored.post_init_error(error)
            sys.exit(1)
    return restored


def serve_as_template(client: PrivateClient, restore: Any, control_fd: int) -> PrivateClient:
    """Tell the host this template is ready, then fork an environment per command of
    its (`restore.serve_forks`). Returns in each environment's runtime: its client, with
    its own variables (log stream, credentials), dir and randomness."""
    _flush()
    client.sock.sendall(client.held + client.NEXT)  # "ready": the template is made
    client.held = b""
    own = client.sock.detach()
    fd, env, command = restore.serve_forks(control_fd, (own,))
    os.environ.clear()
    os.environ.update(env)
    os.chdir(command.get("cwd") or env.get("LAMBDA_TASK_ROOT", "/var/task"))
    time.tzset()
    random = sys.modules.get("random")
    if random is not None:  # fork reseeds it too; a function may have its own instance
        random.seed()
    return PrivateClient(fd)


def fork_before_init(client: PrivateClient, control_fd: int, argv: list[str]) -> PrivateClient:
    """An on-demand template (see `main`): fork an environment per command of the
    host's. Returns in each environment's runtime, its search path set, before Init."""
    os.set_inheritable(control_fd, False)
    runtime_dir = os.environ.get("LAMBDA_RUNTIME_DIR", "/var/runtime")
    sys.path.insert(0, runtime_dir + "/python")
    try:
        import restore

        restore.prepare(runtime_dir)
    except Exception as exc:
        error = error_result(exc, "")
        log_error(error)
        client.post_init_error(error)
        sys.exit(1)
    finally:
        del sys.path[0]
    forked = serve_as_template(client, restore, control_fd)
    set_sys_path(argv)
    return forked


if __name__ == "__main__":
    main()
