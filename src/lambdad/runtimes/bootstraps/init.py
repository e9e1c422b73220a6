"""lambdad's in-sandbox init: the Lambda Runtime API, like AWS's RAPID.

Standalone and stdlib-only: it runs inside the sandbox on the host's Python
(`python -I -S init.py --listen ADDR --channel-fd N [--private-channel | --runtime-fd R
--output-fd O] [--root DIR --cwd DIR] -- BOOTSTRAP...`) and imports nothing from lambdad.

With --root (a container image's function), the runtime is started chrooted into
DIR (the image's root the sandbox assembled there), in its working dir --cwd,
and without the capability to chroot that the sandbox left init alone for it.

It serves the Runtime API (2018-06-01) on ADDR ("HOST:PORT" to bind, or "fd:N"
for a listening socket the host bound for it), starts the runtime's bootstrap
with stdout/stderr piped, and talks to the host over the channel fd with
frames: u32 header length | u32 body length | JSON header | raw body.

    host → init   invoke      {request_id, deadline_ms, invoked_function_arn, trace_id,
                               client_context, cognito_identity} + event bytes
                  assign      {cwd} + the function's environment as JSON: a parked
                              runtime (started before its function was known) gets
                              its function; relayed to it once, as it came
    init → host   ready       the runtime asked for its first event (Init is over)
                  init_error  {error_type} + error JSON (/init/error posted, or no start)
                  result      {request_id, status: "success"|"error", error_type} + response bytes
                  log         raw stdout/stderr bytes of the runtime
                  exited      {returncode, signal}: the runtime process ended; init exits next
                  parked      a parked runtime is started and waits for "assign"
                  fault       {reason}: the runtime broke the private Runtime API (a
                              malformed frame); init kills it next
                  stream_start  {request_id, content_type}: the runtime began a streamed
                              response (POST .../response in streaming mode)
                  stream_chunk  the next bytes of it (at most STREAM_FRAME each)
                  stream_end    {request_id, error_type, truncated} + error JSON: the
                              stream ended (cleanly, with error trailers, past the
                              invoke's "stream_limit", or cut short by the runtime)

Logs are drained before every ready/result frame, so the host sees an
invocation's output before its result.

Response streaming (AWS's Runtime API streaming mode): a POST to
/invocation/ID/response with `Lambda-Runtime-Function-Response-Mode: streaming`
is relayed as it is read, chunk by chunk, never held whole. Init writes each
piece to the channel before it reads the next, so a host that reads slowly
slows the runtime down (back-pressure) and nothing piles up here. Past the
invoke's "stream_limit" bytes, init ends the stream with
Function.ResponseSizeTooLarge, answers the runtime 413 and drops the
connection. A mid-stream error comes as the trailers
Lambda-Runtime-Function-Error-Type / Lambda-Runtime-Function-Error-Body
(base64 of the error JSON).

With --private-channel (the built-in python runtime), the runtime also gets
the Runtime API as frames on a socketpair, its fd number in the environment
variable RUNTIME_FD_ENV (the bootstrap pops it and makes the fd
non-inheritable before the function's code runs). Same framing, same state,
same replies to the host; it only saves the HTTP work on both sides:

    runtime → init   next        {}: the runtime wants its next event
                     response    {request_id} + response bytes
                     error       {request_id, error_type} + error JSON
                     init_error  {error_type} + error JSON; init answers "ack"
                     parked      {}: started with --park, it waits for "assign"
    init → runtime   invoke      the host's invoke frame as it came (header unparsed)
                     assign      the host's assign frame as it came (a parked runtime's first)
                     ack         the init error is with the host (the runtime exits next)

The runtime's frames are checked before init acts on them (sizes before
reading, then the header's type, fields and their types): the function runs in
the runtime's process and can write anything on this socket. A frame that
breaks the protocol is a "fault": its environment is destroyed.

With --runtime-fd R --output-fd O instead (the built-in python runtime, as the
host starts it), init is out of the warm path: R is the runtime's end of a
channel whose other end is the host's, O the write end of a pipe the host
reads. Init passes R on to the runtime (in RUNTIME_FD_ENV, as above), makes O
the runtime's stdout and stderr, and keeps neither. The host then speaks the
private Runtime API above with the runtime itself (ready, invoke, result and
the runtime's output never cross init; see lambdad's `runtimes/direct.py`),
and init's channel carries only "exited", "fault" and, for a parked runtime,
the host's "assign" (init moves to the function's working dir; the host hands
the runtime its own copy). Init still reaps, serves the Runtime API over HTTP
(its state is not the host's: GET /next waits for ever, a response or error
gets 400 InvalidRequestID, /init/error 403) and reports the runtime's exit.

Cold start matters here: this file runs on every cold start, before the
runtime. So it imports only builtins and two small extension modules (no
`http.server`, `socket`, `subprocess`, `threading`, `json` or `re`: together
they cost ~45 ms of CPU per start). The HTTP/1.1 server is a small one on raw
sockets, one thread per connection: keep-alive, Content-Length and chunked
request bodies, `Expect: 100-continue`, case-insensitive headers.
"""

from __future__ import annotations

import _socket
import _thread
import os
import select
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

try:  # the C half of `json`, without the `re` import of its Python half
    import _json
except ImportError:  # pragma: no cover - every CPython has it
    _json = None

MAX_RESPONSE = 6291556
"""Lambda's synchronous response limit (6 MB plus framing slack, as AWS counts it)."""
MAX_BODY_READ = 64 << 20
MAX_LINE = 65536
MAX_HEADERS = 100
MAX_PRIVATE_HEADER = 65536
MAX_ERROR_TYPE = 1024
"""Error types longer than this are cut (the host refuses longer ones)."""
MAX_REQUEST_ID = 128
MAX_REASON = 1024
MAX_CONTENT_TYPE = 256
STREAM_FRAME = 65536
"""The largest stream_chunk body init sends (a runtime's larger chunks are split)."""
DEFAULT_STREAM_LIMIT = MAX_RESPONSE
"""A streamed response's limit when the invoke frame names none."""
STREAMING = "streaming"
ERROR_TYPE_TRAILER = "lambda-runtime-function-error-type"
ERROR_BODY_TRAILER = "lambda-runtime-function-error-body"
RUNTIME_FD_ENV = "_LAMBDAD_RUNTIME_FD"
"""Names the runtime's end of the private channel (see the module docstring)."""
TEMPLATE_FD_ENV = "_LAMBDAD_TEMPLATE_FD"
"""Names a SnapStart template runtime's fork channel (--template-fd: see `python/restore.py`)."""
API = "/2018-06-01/runtime"
NEXT = API + "/invocation/next"
INIT_ERROR = API + "/init/error"
INVOCATION = API + "/invocation/"
SIGKILL, SIGPIPE, SIGXFSZ = 9, 13, 25
PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
REASONS = {
    100: "Continue",
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    505: "HTTP Version Not Supported",
}
ERROR_PAGE = """\
<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: %(code)d</p>
        <p>Message: %(message)s.</p>
        <p>Error code explanation: %(code)s - %(reason)s.</p>
    </body>
</html>
"""
"""http.server's page for protocol errors (bad request line, unknown method...)."""


# ---- JSON --------------------------------------------------------------------------------------


class _ScanContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}
    parse_constant = parse_constant.__getitem__


_scan = _json.make_scanner(_ScanContext()) if _json is not None else None
_quote = _json.encode_basestring_ascii if _json is not None else None


def loads(data: bytes | bytearray | str) -> object:
    """json.loads for what we exchange (UTF-8); anything unusual goes to `json` itself."""
    try:
        assert _scan is not None
        text = data if isinstance(data, str) else bytes(data).decode()
        start = len(text) - len(text.lstrip(" \t\n\r"))
        value, end = _scan(text, start)
        if text[end:].strip(" \t\n\r"):
            raise ValueError("extra data")
        return value
    except (AssertionError, StopIteration, ValueError):
        import json

        return json.loads(data)


def dumps(header: dict, compact: bool = True) -> bytes:
    """json.dumps of a flat dict of str/int/bool/None: compact for frame headers, with
    json's default separators (", ", ": ") for bodies the function's caller may see."""
    item_sep, key_sep = (",", ":") if compact else (", ", ": ")
    if _quote is None:  # pragma: no cover
        import json

        return json.dumps(header, separators=(item_sep, key_sep)).encode()
    parts = []
    for key, value in header.items():
        if value is None:
            text = "null"
        elif value is True or value is False:
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(int(value))
        elif isinstance(value, str):
            text = _quote(value)
        else:
            import json

            text = json.dumps(value, separators=(item_sep, key_sep))
        parts.append(_quote(str(key)) + key_sep + text)
    return ("{" + item_sep.join(parts) + "}").encode()


# ---- Host channel ------------------------------------------------------------------------------


class Reader:
    """Buffered reads from a socket: lines, exact sizes (no `socket.makefile`)."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        if not data:
            return False
        self.buf += data
        return True

    def readline(self, limit: int = MAX_LINE) -> bytes | None:
        """One line with its ending; b"" at EOF; None when longer than `limit`."""
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                if i >= limit:
                    return None
                line = bytes(self.buf[: i + 1])
                del self.buf[: i + 1]
                return line
            if len(self.buf) > limit:
                return None
            start = len(self.buf)
            if not self._fill():
                line = bytes(self.buf)
                self.buf.clear()
                return line

    def read(self, n: int) -> bytes | bytearray:
        """Exactly `n` bytes, or fewer at EOF."""
        # A small frame's parts come in one read (not one recv each).
        while len(self.buf) < n <= len(self.buf) + 65536 and self._fill():
            pass
        if len(self.buf) >= n:
            data = bytes(self.buf[:n])
            del self.buf[:n]
            return data
        out = bytearray(n)
        got = len(self.buf)
        out[:got] = self.buf
        self.buf.clear()
        with memoryview(out) as view:
            while got < n:
                k = self.sock.recv_into(view[got:], min(n - got, 1 << 20))
                if not k:
                    break
                got += k
        if got < n:
            del out[got:]
        return out


class Channel:
    """The host channel; send() is thread-safe, recv() is used by one thread."""

    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock
        self.lock = _thread.allocate_lock()
        self.reader = Reader(sock)

    def send(self, kind: str, header: dict | None = None, body: bytes | bytearray = b"") -> None:
        self.send_raw(dumps({**(header or {}), "type": kind}), body)

    def send_raw(self, raw: bytes | bytearray, body: bytes | bytearray = b"") -> None:
        """A frame whose header is already JSON (relayed as it came)."""
        prefix = len(raw).to_bytes(4, "big") + len(body).to_bytes(4, "big")
        with self.lock:
            if len(body) <= 65536:
                self.sock.sendall(prefix + raw + body)
            else:
                self.sock.sendall(prefix + raw)
                self.sock.sendall(body)

    def recv(self) -> tuple[dict, bytes | bytearray] | None:
        frame = self.recv_raw()
        return None if frame is None else (frame[0], frame[1])

    def recv_raw(self) -> tuple[dict, bytes | bytearray, bytes | bytearray] | None:
        """(header, body, the header's raw JSON), or None at EOF."""
        prefix = self.reader.read(8)
        if len(prefix) < 8:
            return None
        header_len = int.from_bytes(prefix[:4], "big")
        body_len = int.from_bytes(prefix[4:], "big")
        raw = self.reader.read(header_len)
        header = loads(raw)
        body = self.reader.read(body_len) if body_len else b""
        if len(body) < body_len or not isinstance(header, dict):
            return None
        return header, body, raw


class LogRelay:
    """Copies the runtime's stdout/stderr to the host as "log" frames."""

    def __init__(self, channel: Channel, fds: list[int]) -> None:
        self.channel = channel
        self.fds = list(fds)
        self.lock = _thread.allocate_lock()
        self.done = _thread.allocate_lock()
        self.done.acquire()
        for fd in fds:
            os.set_blocking(fd, False)
        _thread.start_new_thread(self._run, ())

    def _read(self, fd: int) -> bool:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return False
        if not data:
            self.fds.remove(fd)
            os.close(fd)
            return False
        self.channel.send("log", None, data)
        return True

    def _run(self) -> None:
        try:
            while self.fds:
                readable, _, _ = select.select(self.fds, [], [], 1.0)
                with self.lock:
                    for fd in readable:
                        if fd in self.fds:
                            self._read(fd)
        finally:
            self.done.release()

    def join(self, timeout: float) -> None:
        if self.done.acquire(timeout=timeout):
            self.done.release()

    def drain(self) -> None:
        """Send what the runtime has written so far (it flushed before posting)."""
        with self.lock:
            for _ in range(256):  # bounded: a runtime that never stops writing can't stall us
                if not self.fds:
                    return
                readable, _, _ = select.select(self.fds, [], [], 0)
                if not readable or not any([self._read(fd) for fd in readable]):
                    return


# ---- Runtime API state -------------------------------------------------------------------------


class Invocations:
    """The Runtime API's state: Init, then one invocation at a time."""

    def __init__(self, channel: Channel, relay: LogRelay | None = None) -> None:
        self.channel = channel
        self.relay = relay
        self.lock = _thread.allocate_lock()
        self.waiters: list = []  # locks of threads blocked in next()
        self.phase = "init"  # init → running, or init → failed; "direct": see main_direct
        self.pending: list[tuple[dict, bytes | bytearray, bytes | bytearray | None]] = []
        self.current: str | None = None
        self.stream_limit = DEFAULT_STREAM_LIMIT
        self.finished: list[str] = []  # the last 64 completed request ids
        # The private channel's runtime waiting for its next event: the thread that
        # adds the event hands it over at once (no second thread to wake).
        self.deliver: Callable[[bytes | bytearray, bytes | bytearray], None] | None = None

    def drain(self) -> None:
        if self.relay is not None:
            self.relay.drain()

    def add(
        self, header: dict, body: bytes | bytearray, raw: bytes | bytearray | None = None
    ) -> None:
        """Queue an invoke frame; `raw` is its header's JSON as the host sent it.
        A private-channel runtime waiting for it (`next_or_deliver`) gets it at once."""
        with self.lock:
            deliver, self.deliver = self.deliver, None
            if deliver is not None:
                self._begin(header)
            else:
                self.pending.append((header, body, raw))
                waiters, self.waiters = self.waiters, []
        if deliver is not None:
            try:
                deliver(raw if raw is not None else dumps(header), body)
            except OSError:
                pass  # the runtime is gone: its exit is reported by main()
            return
        for waiter in waiters:
            waiter.release()

    def next(self) -> tuple[dict, bytes | bytearray, bytes | bytearray | None]:
        while True:
            with self.lock:
                found = self._next()
                if found is not None:
                    return found
                waiter = _thread.allocate_lock()
                waiter.acquire()
                self.waiters.append(waiter)
            waiter.acquire()

    def next_or_deliver(
        self, deliver: Callable[[bytes | bytearray, bytes | bytearray], None]
    ) -> tuple[dict, bytes | bytearray, bytes | bytearray | None] | None:
        """The next invoke frame if one is queued; else None, and `add` hands the next
        one to `deliver` (raw header, body) from its own thread."""
        with self.lock:
            found = self._next()
            if found is None:
                self.deliver = deliver
            return found

    def _next(self) -> tuple[dict, bytes | bytearray, bytes | bytearray | None] | None:
        """(under the lock) Init ends at the first ask; the first queued frame, begun."""
        if self.phase == "init":
            self.phase = "running"
            self.drain()
            self.channel.send("ready")
        if not self.pending:
            return None
        header, body, raw = self.pending.pop(0)
        self._begin(header)
        return header, body, raw

    def _begin(self, header: dict) -> None:
        """(under the lock) `header`'s invocation is the current one."""
        self.current = header["request_id"]
        limit = header.get("stream_limit")
        self.stream_limit = limit if isinstance(limit, int) else DEFAULT_STREAM_LIMIT

    def finish(self, request_id: str) -> tuple[int, dict] | None:
        """Claim `request_id` for a response/error post; an AWS error reply if it can't be."""
        with self.lock:
            if request_id == self.current:
                self.current = None
                self.finished.append(request_id)
                del self.finished[:-64]
                return None
            if request_id in self.finished:
                return 403, {
                    "errorMessage": "Invalid state transition: invocation already completed",
                    "errorType": "InvalidStateTransition",
                }
            return 400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}

    def init_failed(self, error_type: str, body: bytes | bytearray) -> bool:
        with self.lock:
            if self.phase != "init":
                return False
            self.phase = "failed"
        self.drain()
        self.channel.send("init_error", {"error_type": error_type}, body)
        return True

    def result(
        self, request_id: str, status: str, error_type: str | None, body: bytes | bytearray
    ) -> None:
        self.drain()
        header = {"request_id": request_id, "status": status, "error_type": error_type}
        self.channel.send("result", header, body)

    def stream_start(self, request_id: str, content_type: str) -> None:
        self.drain()
        self.channel.send("stream_start", {"request_id": request_id, "content_type": content_type})

    def stream_chunk(self, data: bytes | bytearray) -> None:
        for start in range(0, len(data), STREAM_FRAME):
            self.channel.send("stream_chunk", None, data[start : start + STREAM_FRAME])

    def stream_end(
        self,
        request_id: str,
        error_type: str | None = None,
        body: bytes | bytearray = b"",
        truncated: bool = False,
    ) -> None:
        self.drain()
        header = {"request_id": request_id, "error_type": error_type, "truncated": truncated}
        self.channel.send("stream_end", header, body)

    def fault(self, reason: str) -> None:
        """The runtime broke the protocol: the host destroys this environment."""
        with self.lock:
            self.phase = "failed"
        self.drain()
        self.channel.send("fault", {"reason": reason[:MAX_REASON]})


# ---- HTTP ----------------------------------------------------------------------------------------


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Request:
    def __init__(
        self, method: str, path: str, version: tuple[int, int], headers: dict[str, str]
    ) -> None:
        self.method = method
        self.path = path
        self.version = version
        self.headers = headers
        """Lower-cased names; repeated headers joined with ", "."""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name, default)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("", "Jan", "Feb", "Mar", "Apr", "May", "Jun") + (
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip


def http_date() -> str:
    t = time.gmtime()
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


class Connection:
    """One client connection: requests in order, until either side closes."""

    def __init__(self, sock: _socket.socket, invocations: Invocations) -> None:
        self.sock = sock
        self.reader = Reader(sock)
        self.invocations = invocations
        self.close = False

    def serve(self) -> None:
        try:
            while not self.close:
                request = self.read_request()
                if request is None:
                    break
                if request.method == "GET":
                    self.do_get(request)
                elif request.method == "POST":
                    self.do_post(request)
                else:
                    self.send_error(501, f"Unsupported method ({request.method!r})")
        except BadRequest as exc:
            try:
                self.send_error(exc.status, exc.message)
            except OSError:
                pass
        except OSError:
            pass
        except Exception:  # a request we could not handle: this connection ends, not init
            try:
                self.send_error(500, "Internal error")
            except OSError:
                pass
        finally:
            self.sock.close()

    # -- parse --

    def read_request(self) -> Request | None:
        line = self.reader.readline()
        while line in (b"\r\n", b"\n"):  # stray CRLFs between requests (RFC 9112 §2.2)
            line = self.reader.readline()
        if line is None:
            raise BadRequest(414, "Request-URI Too Long")
        if not line:
            return None
        words = line.decode("iso-8859-1").split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            raise BadRequest(400, f"Bad request syntax ({line.rstrip()!r})")
        method, path, version = words
        try:
            major, minor = (int(v) for v in version[5:].split("."))
        except ValueError:
            raise BadRequest(400, f"Bad request version ({version!r})") from None
        if major >= 2:
            raise BadRequest(505, f"Invalid HTTP version ({version[5:]})")
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            raw = self.reader.readline()
            if raw is None:
                raise BadRequest(431, "Line too long")
            if raw in (b"\r\n", b"\n", b""):
                break
            name, sep, value = raw.decode("iso-8859-1").partition(":")
            if not sep:
                raise BadRequest(400, "Bad header line")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        else:
            raise BadRequest(431, "Too many headers")
        connection = headers.get("connection", "").lower()
        if connection == "close" or (major, minor) < (1, 1) and connection != "keep-alive":
            self.close = True
        if path.startswith("//"):
            path = "/" + path.lstrip("/")
        return Request(method, path, (major, minor), headers)

    def read_body(self, request: Request) -> bytes | bytearray | None:
        """The request body; None when it is larger than MAX_BODY_READ."""
        self._continue(request)
        if request.header("transfer-encoding").lower() == "chunked":
            parts, total = [], 0
            for piece in self._chunked_pieces():
                total += len(piece)
                if total > MAX_BODY_READ:
                    return None
                parts.append(piece)
            return b"".join(parts)
        length = self._content_length(request)
        if length > MAX_BODY_READ:
            return None
        body = self.reader.read(length) if length else b""
        if len(body) < length:
            raise OSError("connection closed mid-body")
        return body

    def _continue(self, request: Request) -> None:
        if request.header("expect").lower() == "100-continue" and request.version >= (1, 1):
            self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _content_length(self, request: Request) -> int:
        value = request.header("content-length") or "0"
        if not value.isdigit() or not value.isascii():  # int() would take "-1", "+1", "1_0"
            raise BadRequest(400, "Bad Content-Length")
        return int(value)

    def _chunked_pieces(self):  # type: ignore[no-untyped-def]
        """A chunked body as it comes, in pieces of at most STREAM_FRAME bytes (never a
        whole chunk held); its trailers end up in self.trailers."""
        self.trailers: dict[str, str] = {}
        while True:
            line = self.reader.readline()
            if not line:
                raise OSError("connection closed mid-body")
            digits = line.split(b";")[0].strip() or b"0"
            if len(digits) > 16 or digits.strip(b"0123456789abcdefABCDEF"):
                raise BadRequest(400, "Bad chunk size")
            left = int(digits, 16)
            if left == 0:
                self._read_trailers()
                return
            yield from self._pieces(left)
            self.reader.readline()

    def _pieces(self, left: int):  # type: ignore[no-untyped-def]
        while left:
            piece = self.reader.read(min(left, STREAM_FRAME))
            if not piece:
                raise OSError("connection closed mid-body")
            left -= len(piece)
            yield piece

    # -- streamed responses --

    def stream_response(self, request: Request, request_id: str) -> None:
        """POST /invocation/ID/response in streaming mode: relayed as it is read."""
        refused = self.invocations.finish(request_id)
        if refused:
            self.close = True  # the body is not read: this connection can't go on
            self.reply(*refused)
            return
        invocations = self.invocations
        limit = invocations.stream_limit
        content_type = request.header("content-type", "application/octet-stream")
        # It becomes a header of the caller's response: printable ASCII only.
        content_type = "".join(c for c in content_type[:MAX_CONTENT_TYPE] if " " <= c <= "~")
        invocations.stream_start(request_id, content_type)
        self._continue(request)
        self.trailers = {}
        total = 0
        try:
            if request.header("transfer-encoding").lower() == "chunked":
                pieces = self._chunked_pieces()
            else:
                pieces = self._pieces(self._content_length(request))
            for piece in pieces:
                total += len(piece)
                if total > limit:
                    error_type, body = size_error(total, limit)
                    invocations.stream_end(request_id, error_type, body)
                    self.close = True
                    self.reply(413, too_large())
                    return
                invocations.stream_chunk(piece)
        except (OSError, BadRequest):
            # The runtime went away (or broke HTTP) mid-stream: the host decides.
            invocations.stream_end(request_id, None, b"", truncated=True)
            raise
        error_type, error_body = self._stream_error()
        invocations.stream_end(request_id, error_type, error_body)
        self.reply(202, {"status": "OK"})

    def _read_trailers(self) -> None:
        for _ in range(MAX_HEADERS):
            raw = self.reader.readline()
            if raw is None:
                raise BadRequest(431, "Line too long")
            if raw in (b"\r\n", b"\n", b""):
                return
            name, sep, value = raw.decode("iso-8859-1").partition(":")
            if sep:
                self.trailers[name.strip().lower()] = value.strip()
        raise BadRequest(431, "Too many trailers")

    def _stream_error(self) -> tuple[str | None, bytes]:
        """The error the runtime reported in the trailers: (type, error JSON)."""
        error_type = self.trailers.get(ERROR_TYPE_TRAILER)
        encoded = self.trailers.get(ERROR_BODY_TRAILER)
        if not error_type and not encoded:
            return None, b""
        body = b""
        if encoded:
            try:
                import binascii

                body = binascii.a2b_base64(encoded.encode("ascii"))
            except (ValueError, UnicodeEncodeError):  # binascii.Error is a ValueError
                body = b""
        error_type = error_type or _error_type(body) or "Unhandled"
        if not body:
            body = dumps({"errorMessage": "", "errorType": error_type}, compact=False)
        return _cut(error_type), body

    # -- reply --

    def reply(
        self, status: int, body: bytes | bytearray | dict, headers: dict | None = None
    ) -> None:
        raw = dumps(body, compact=False) if isinstance(body, dict) else body
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, '')}", f"Date: {http_date()}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if "Content-Type" not in (headers or {}):
            lines.append("Content-Type: application/json")
        lines.append(f"Content-Length: {len(raw)}")
        if self.close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
        if len(raw) <= 65536:
            self.sock.sendall(head + raw)
        else:
            self.sock.sendall(head)
            self.sock.sendall(raw)

    def send_error(self, status: int, message: str) -> None:
        self.close = True
        page = ERROR_PAGE % {
            "code": status,
            "message": message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
            "reason": REASONS.get(status, ""),
        }
        self.reply(status, page.encode(), {"Content-Type": "text/html;charset=utf-8"})

    # -- routes --

    def do_get(self, request: Request) -> None:
        if request.path.split("?")[0] != NEXT:
            self.reply(404, {"errorMessage": "not found", "errorType": "NotFound"})
            return
        header, body, _ = self.invocations.next()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": header["request_id"],
            "Lambda-Runtime-Deadline-Ms": str(header["deadline_ms"]),
            "Lambda-Runtime-Invoked-Function-Arn": header["invoked_function_arn"],
            "Lambda-Runtime-Trace-Id": header["trace_id"],
        }
        if header.get("client_context"):
            headers["Lambda-Runtime-Client-Context"] = header["client_context"]
        if header.get("cognito_identity"):
            headers["Lambda-Runtime-Cognito-Identity"] = header["cognito_identity"]
        self.reply(200, body, headers)

    def do_post(self, request: Request) -> None:
        path = request.path.split("?")[0]
        mode = request.header("lambda-runtime-function-response-mode").lower()
        if mode == STREAMING and path.startswith(INVOCATION) and path.endswith("/response"):
            request_id = path[len(INVOCATION) : -len("/response")]
            if request_id and "/" not in request_id:
                self.stream_response(request, request_id)
                return
        body = self.read_body(request)
        if body is None:
            self.close = True
            self.reply(413, too_large())
            return
        error_type = request.headers.get("lambda-runtime-function-error-type")
        if path == INIT_ERROR:
            self.reply(*post_init_error(self.invocations, error_type, body))
            return
        request_id, _, kind = path[len(INVOCATION) :].partition("/")
        if not path.startswith(INVOCATION) or not request_id or kind not in ("response", "error"):
            self.reply(404, {"errorMessage": "not found", "errorType": "NotFound"})
            return
        post_invocation(self.invocations, request_id, kind, error_type, body, self.reply)


# ---- The routes' work, shared by HTTP and the private channel ------------------------------------


def post_init_error(
    invocations: Invocations, error_type: str | None, body: bytes | bytearray
) -> tuple[int, dict]:
    """POST /init/error: the reply for the runtime."""
    if len(body) > MAX_RESPONSE:
        return 413, too_large()
    if invocations.init_failed(_cut(error_type or _error_type(body) or ""), body):
        return 202, {"status": "OK"}
    return 403, _bad_transition("InitError")


def post_invocation(
    invocations: Invocations,
    request_id: str,
    kind: str,
    error_type: str | None,
    body: bytes | bytearray,
    reply: Callable[[int, dict], None],
    size: int | None = None,
) -> None:
    """POST /invocation/ID/response or /error (`kind`): the result to the host, and
    `reply` to the runtime (before the result when the response is too large).
    `size`: the body's real size when it was too large to keep (`body` is then empty)."""
    refused = invocations.finish(request_id)
    if refused:
        reply(*refused)
        return
    size = len(body) if size is None else size
    if size > MAX_RESPONSE:  # error payloads too: the host takes nothing larger
        reply(413, too_large())
        invocations.result(request_id, "error", *size_error(size, MAX_RESPONSE))
        return
    if kind == "response":
        invocations.result(request_id, "success", None, body)
    else:
        error_type = _error_type(body) or error_type
        invocations.result(request_id, "error", _cut(error_type) if error_type else None, body)
    reply(202, {"status": "OK"})


def size_error(size: int, limit: int) -> tuple[str, bytes]:
    """(errorType, error JSON) of a response past its limit, as Lambda words it."""
    message = (
        f"Response payload size ({size} bytes) exceeded maximum allowed "
        f"payload size ({limit} bytes)."
    )
    error_type = "Function.ResponseSizeTooLarge"
    return error_type, dumps({"errorMessage": message, "errorType": error_type}, compact=False)


def _error_type(body: bytes | bytearray) -> str | None:
    try:
        value = loads(body)
    except (ValueError, RecursionError):  # any bytes may come: deep nesting too
        return None
    value = value.get("errorType") if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


def _cut(error_type: str) -> str:
    return error_type[:MAX_ERROR_TYPE]


def too_large() -> dict:
    return {
        "errorMessage": f"Exceeded maximum allowed payload size ({MAX_RESPONSE} bytes).",
        "errorType": "RequestEntityTooLarge",
    }


def _bad_transition(to: str) -> dict:
    return {
        "errorMessage": f"State transition from Ready to {to} failed for runtime.",
        "errorType": "InvalidStateTransition",
    }


def listen(address: str) -> _socket.socket:
    if address.startswith("fd:"):
        return _socket.socket(fileno=int(address[3:]))
    host, _, port = address.rpartition(":")
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(64)
    return sock


def serve(listener: _socket.socket, invocations: Invocations) -> None:
    """Accept connections forever, one thread each (blocking GET /next per connection)."""
    family, kind = listener.family, listener.type
    while True:
        try:
            fd, _ = listener._accept()
        except (InterruptedError, ConnectionAbortedError):
            continue
        except OSError:  # out of fds, say: back off rather than spin
            time.sleep(0.05)
            continue
        sock = _socket.socket(family, kind, 0, fd)
        if family in (_socket.AF_INET, _socket.AF_INET6):
            # Small request/response pairs: don't let Nagle wait for a delayed ACK.
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        _thread.start_new_thread(Connection(sock, invocations).serve, ())


# ---- Private channel ---------------------------------------------------------------------------


def serve_private(
    link: Channel, invocations: Invocations, done: _thread.LockType, runtime: int = 0
) -> None:
    """The built-in runtime's Runtime API calls, as frames on `sock`, until it closes.

    The same state and replies to the host as over HTTP; the runtime gets no
    reply but the event (it ignores the HTTP status codes), and an "ack" once
    its init error is with the host. A body too large to keep is read past and
    handled as HTTP's 413 (a response/error becomes Function.ResponseSizeTooLarge).
    A frame that breaks the protocol ends the link: the host hears "fault" and
    the runtime (pid `runtime`) is killed.
    """
    sock = link.sock
    try:
        while True:
            frame = recv_private(link.reader)
            if frame is None:
                break
            header, body, size = frame
            kind = header["type"]
            if kind == "next":
                found = invocations.next_or_deliver(link.send_raw)
                if found is not None:
                    event, payload, raw = found
                    link.send_raw(raw if raw is not None else dumps(event), payload)
            elif kind == "parked":  # relayed: the host knows when a parked runtime waits
                invocations.drain()
                invocations.channel.send("parked")
            elif kind == "response" or kind == "error":
                request_id = header["request_id"]
                error_type = header.get("error_type")
                post_invocation(invocations, request_id, kind, error_type, body, _ignore, size)
            elif size > len(body):  # an init error too large to keep: refused, as over HTTP
                link.send("ack")
            else:
                post_init_error(invocations, header.get("error_type"), body)
                link.send("ack")
    except OSError:  # the runtime or the host went away
        pass
    except Exception as exc:  # a ProtocolViolation, or a frame init could not handle
        try:
            invocations.fault(f"private channel: {exc}")
        except OSError:
            pass
        if runtime:
            try:
                os.kill(runtime, SIGKILL)
            except OSError:
                pass
    finally:
        sock.close()
        done.release()


class ProtocolViolation(Exception):
    """The runtime sent a frame that is not one of the private Runtime API's."""


PRIVATE_FIELDS = {
    "next": (),
    "response": ("request_id",),
    "error": ("request_id", "error_type"),
    "init_error": ("error_type",),
    "parked": (),
}
"""The runtime's frame types and the fields each may have (besides "type")."""


def recv_private(reader: Reader) -> tuple[dict, bytes | bytearray, int] | None:
    """(header, body, body size) of the runtime's next frame, checked; None at EOF.

    Sizes are checked before anything is read; a body past MAX_RESPONSE is read
    past in pieces (never held) and comes back empty with its real size.
    """
    prefix = reader.read(8)
    if len(prefix) < 8:
        return None
    header_len = int.from_bytes(prefix[:4], "big")
    size = int.from_bytes(prefix[4:], "big")
    if header_len > MAX_PRIVATE_HEADER:
        raise ProtocolViolation(f"a {header_len}-byte header")
    if size > MAX_BODY_READ:
        raise ProtocolViolation(f"a {size}-byte body")
    raw = reader.read(header_len)
    if len(raw) < header_len:
        return None
    try:
        header = loads(raw)
    except (ValueError, RecursionError):
        raise ProtocolViolation("a header that is not JSON") from None
    check_private_header(header)
    if size <= MAX_RESPONSE:
        body = reader.read(size) if size else b""
        return (header, body, size) if len(body) == size else None
    left = size
    while left:
        got = len(reader.read(min(left, 1 << 20)))
        if not got:
            return None
        left -= got
    return header, b"", size


def check_private_header(header: object) -> None:
    if not isinstance(header, dict):
        raise ProtocolViolation("a header that is not an object")
    kind = header.get("type")
    if not isinstance(kind, str) or kind not in PRIVATE_FIELDS:
        raise ProtocolViolation(f"an unknown frame type {str(kind)[:64]!r}")
    allowed = PRIVATE_FIELDS[kind]
    for name in header:
        if name != "type" and name not in allowed:
            raise ProtocolViolation(f"an unknown field {str(name)[:64]!r} in {kind!r}")
    if "request_id" in allowed:
        request_id = header.get("request_id")
        if not isinstance(request_id, str) or not 0 < len(request_id) <= MAX_REQUEST_ID:
            raise ProtocolViolation(f"a bad request_id in {kind!r}")
    error_type = header.get("error_type")
    if error_type is not None and not isinstance(error_type, str):
        raise ProtocolViolation(f"an error_type that is not a string in {kind!r}")


def _ignore(status: int, reply: dict) -> None:
    pass


# ---- Process -----------------------------------------------------------------------------------


def read_host(
    channel: Channel,
    invocations: Invocations,
    child: list[int],
    link: Channel | None = None,
    direct: bool = False,
) -> None:
    """The host's frames; `direct`: the host talks to the runtime itself (it gets
    its own "assign"; init only moves to the function's dir)."""
    assigned = False
    while True:
        frame = channel.recv_raw()
        if frame is None:
            break
        header, body, raw = frame
        if header.get("type") == "invoke":
            invocations.add(header, body, raw)
        elif header.get("type") == "assign" and not assigned and (link or direct):
            # A parked runtime gets its function (once: the host sends one assign,
            # before any invoke, and the runtime reads it before anything else).
            assigned = True
            cwd = header.get("cwd")
            if isinstance(cwd, str):
                try:
                    os.chdir(cwd)  # the function's code is mounted there now
                except OSError:
                    pass
            if link is not None:
                link.send_raw(raw, body)
    # The host is gone: nobody can use this sandbox any more.
    for pid in child:
        try:
            os.kill(pid, SIGKILL)
        except OSError:
            pass
    os._exit(0)


def parse_args(argv: list[str]) -> tuple[str, int, bool, tuple[str, str] | None, list[str]]:
    """--listen ADDR --channel-fd N [--private-channel] [--root DIR --cwd DIR]
    [--template-fd N] -- BOOTSTRAP... (argparse's forms, without argparse) → (ADDR, N,
    private channel?, (DIR, cwd) or None, BOOTSTRAP). --runtime-fd/--output-fd are
    taken too (see `direct_fds`), and --template-fd (see `template_fd`)."""
    split = argv.index("--") if "--" in argv else len(argv)
    opts: dict[str, str] = {}
    private = False
    args = iter(argv[:split])
    for arg in args:
        if arg == "--private-channel":
            private = True
            continue
        name, eq, value = arg.partition("=")
        if (
            name
            not in ("--listen", "--channel-fd", "--root", "--cwd", "--template-fd") + DIRECT_FLAGS
        ):
            _usage(f"unrecognized arguments: {arg}")
        if not eq:
            value = next(args, None)  # type: ignore[assignment]
            if value is None:
                _usage(f"argument {name}: expected one argument")
        opts[name] = value
    missing = [n for n in ("--listen", "--channel-fd") if n not in opts]
    if missing:
        _usage(f"the following arguments are required: {', '.join(missing)}")
    try:
        channel_fd = int(opts["--channel-fd"])
    except ValueError:
        _usage(f"argument --channel-fd: invalid int value: {opts['--channel-fd']!r}")
    root = (opts["--root"], opts.get("--cwd") or "/") if "--root" in opts else None
    return opts["--listen"], channel_fd, private, root, argv[split + 1 :]


DIRECT_FLAGS = ("--runtime-fd", "--output-fd")


def direct_fds(argv: list[str]) -> tuple[int, int] | None:
    """(R, O) of --runtime-fd R --output-fd O (both or neither; see the module docstring)."""
    split = argv.index("--") if "--" in argv else len(argv)
    found: dict[str, int] = {}
    args = iter(argv[:split])
    for arg in args:
        name, eq, value = arg.partition("=")
        if name in DIRECT_FLAGS:
            value = value if eq else next(args, "")
            if not value.isdigit():
                _usage(f"argument {name}: invalid int value: {value!r}")
            found[name] = int(value)
    if not found:
        return None
    if len(found) < 2:
        _usage("--runtime-fd and --output-fd go together")
    return found["--runtime-fd"], found["--output-fd"]


def _usage(message: str) -> None:
    sys.stderr.write(
        "usage: init --listen LISTEN --channel-fd CHANNEL_FD [--private-channel | "
        "--runtime-fd R --output-fd O] [--root DIR --cwd DIR] [--template-fd FD] "
        "-- BOOTSTRAP...\n"
        f"init: error: {message}\n"
    )
    sys.exit(2)


def _private(fds: tuple[int, ...]) -> None:
    """Keep our fds out of the runtime (posix_spawn closes only close-on-exec ones)."""
    try:
        inherited = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        inherited = list(fds)
    for fd in inherited:
        if fd > 2:
            try:
                os.set_inheritable(fd, False)
            except OSError:
                pass


def spawn(argv: list[str], stdout: int, stderr: int, env: dict | None = None) -> int:
    """Start the runtime with stdout/stderr on the given fds; raises OSError if it can't."""
    if not argv:
        raise OSError(2, "No such file or directory")
    return os.posix_spawnp(
        argv[0],
        argv,
        os.environ if env is None else env,
        file_actions=[(os.POSIX_SPAWN_DUP2, stdout, 1), (os.POSIX_SPAWN_DUP2, stderr, 2)],
        # Python ignores these; the runtime must start with the defaults.
        setsigdef=(SIGPIPE, SIGXFSZ),
    )


def spawn_in_root(
    argv: list[str], stdout: int, stderr: int, env: dict | None, root: tuple[str, str]
) -> int:
    """`spawn`, chrooted into root[0] and in its dir root[1], with no capability left:
    a container image's runtime. posix_spawn cannot chroot, so this forks (before any
    thread of ours exists) and reports a failed exec's errno over a close-on-exec pipe."""
    if not argv:
        raise OSError(2, "No such file or directory")
    # Nothing of init's root is reachable once chrooted: load what the child needs first.
    import _signal

    prctl = _prctl()
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(report_r)
            os.chroot(root[0])
            os.chdir(root[1])
            # The function must not chroot (out of) anything: an exec as a non-root uid
            # keeps no capability once the ambient set is empty.
            if prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0:
                raise OSError(1, "cannot drop the ambient capabilities")
            os.dup2(stdout, 1)
            os.dup2(stderr, 2)
            for sig in (SIGPIPE, SIGXFSZ):
                _signal.signal(sig, _signal.SIG_DFL)
            os.execvpe(argv[0], argv, os.environ if env is None else env)
        except BaseException as exc:
            try:
                errno = exc.errno if isinstance(exc, OSError) and exc.errno else 0
                detail = os.strerror(errno) if errno else f"{type(exc).__name__}: {exc}"
                os.write(report_w, f"{errno} {detail}".encode()[:500])
            finally:
                os._exit(127)
    os.close(report_w)
    try:
        report = os.read(report_r, 512)
    finally:
        os.close(report_r)
    if report:
        os.waitpid(pid, 0)
        errno, _, detail = report.decode(errors="replace").partition(" ")
        raise OSError(int(errno) if errno.isdigit() else 0, detail)
    return pid


def _prctl() -> Callable[..., int]:
    """libc's prctl through `_ctypes` with the two classes `ctypes` would define
    (`import ctypes` costs ~3 ms of CPU on every cold start, `_ctypes` a tenth of that)."""
    import _ctypes

    class c_int(_ctypes._SimpleCData):
        _type_ = "i"

    class Function(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = c_int

    class Libc:
        _handle = _ctypes.dlopen(None, os.RTLD_NOW)

    return Function(("prctl", Libc()))  # type: ignore[no-any-return]


def undumpable() -> bool:
    """prctl(PR_SET_DUMPABLE, 0): only CAP_SYS_PTRACE (which nothing in the sandbox
    has) may then trace us, take our fds (pidfd_getfd), read our memory or our
    /proc/PID/fd, mem and environ. The function runs as our uid: without this it
    could take the host channel. The runtime is dumpable again (exec resets it).

    Through `_prctl`.
    """
    try:
        prctl = _prctl()
        return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 and prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    except (ImportError, AttributeError, OSError):
        return False


def reap_until(pid: int) -> int:
    """Wait for the runtime `pid` to end (its wait status), reaping on the way every
    other child that ends: as pid 1 of the sandbox (the backend provides no reaper),
    init inherits the processes the function leaves behind, and their zombies would
    hold pids of the sandbox's pids.max until it ends."""
    while True:
        ended, status = os.waitpid(-1, 0)
        if ended == pid:
            return status


def template_fd(argv: list[str]) -> int | None:
    """--template-fd N (a SnapStart template's fork channel, handed on to the runtime)."""
    split = argv.index("--") if "--" in argv else len(argv)
    for i, arg in enumerate(argv[:split]):
        if arg.startswith("--template-fd="):
            return int(arg.partition("=")[2])
        if arg == "--template-fd" and i + 1 < split:
            return int(argv[i + 1])
    return None


def main(argv: list[str]) -> int:
    address, channel_fd, private, root, bootstrap = parse_args(argv)
    direct = direct_fds(argv)
    template = template_fd(argv)
    if not undumpable():
        # An interpreter without _ctypes: the sandbox's seccomp filter (ptrace,
        # pidfd_getfd, process_vm_*) and its read-only /proc still keep init's
        # fds and memory out of the function's reach.
        sys.stderr.write("init: cannot make itself non-dumpable (no _ctypes?)\n")
    listener = listen(address)
    _private((channel_fd, listener.fileno()))
    if template is not None:  # a SnapStart template's runtime forks environments with it
        os.set_inheritable(template, True)
        os.environ[TEMPLATE_FD_ENV] = str(template)
    if direct is not None:
        return main_direct(channel_fd, listener, root, bootstrap, direct)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    link, theirs, env = None, None, None
    if private:  # made after _private(): ours stays close-on-exec, theirs is passed on
        link, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
        os.set_inheritable(theirs.fileno(), True)
        env = {**os.environ, RUNTIME_FD_ENV: str(theirs.fileno())}
    try:
        pid = start_runtime(bootstrap, out_w, err_w, env, root, channel_fd)
        if pid is None:
            return 0
    finally:
        os.close(out_w)
        os.close(err_w)
        if theirs is not None:
            theirs.close()
    return supervise(channel_fd, listener, pid, out_r, err_r, link)


def supervise(
    channel_fd: int,
    listener: _socket.socket,
    pid: int,
    out_r: int,
    err_r: int,
    link: _socket.socket | None,
) -> int:
    """Serve the runtime `pid` (its output on out_r/err_r, its private channel `link`)
    until it ends, then tell the host how it ended."""
    # The runtime is starting; its first connection waits in the backlog until
    # the relay exists, so Init's output always precedes "ready".
    channel = Channel(_socket.socket(fileno=channel_fd))
    relay = LogRelay(channel, [out_r, err_r])
    invocations = Invocations(channel, relay)
    private_link = None if link is None else Channel(link)
    _thread.start_new_thread(read_host, (channel, invocations, [pid], private_link))
    _thread.start_new_thread(serve, (listener, invocations))
    link_done = _thread.allocate_lock()
    if private_link is not None:
        link_done.acquire()
        _thread.start_new_thread(serve_private, (private_link, invocations, link_done, pid))

    returncode = os.waitstatus_to_exitcode(reap_until(pid))
    # What the runtime sent just before it ended is handled first (HTTP's posts
    # are, as the runtime waits for their replies); a forked grandchild may keep
    # the channel open, so don't wait for EOF forever.
    if link_done.acquire(timeout=0.2):
        link_done.release()
    # Output still in the pipes belongs to the last invocation; grandchildren may
    # keep the pipes open, so don't wait for EOF forever.
    relay.join(timeout=0.2)
    relay.drain()
    report_exit(channel, returncode)
    return 0


def start_runtime(
    bootstrap: list[str],
    stdout: int,
    stderr: int,
    env: dict | None,
    root: tuple[str, str] | None,
    channel_fd: int,
) -> int | None:
    """The runtime's pid; None if it could not start (reported to the host as an
    Init error and an exit with 127, as Lambda reports it)."""
    try:
        if root is None:
            return spawn(bootstrap, stdout, stderr, env)
        return spawn_in_root(bootstrap, stdout, stderr, env, root)
    except OSError as exc:
        channel = Channel(_socket.socket(fileno=channel_fd))
        reason = exc.strerror or str(exc)
        message = f"Error: fork/exec {bootstrap[0] if bootstrap else ''}: {reason.lower()}"
        err = {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": message}
        Invocations(channel).init_failed("Runtime.InvalidEntrypoint", dumps(err, compact=False))
        channel.send("exited", {"returncode": 127, "signal": None})
        return None


def report_exit(channel: Channel, returncode: int) -> None:
    sig = -returncode if returncode < 0 else None
    channel.send("exited", {"returncode": None if sig else returncode, "signal": sig})


def below_limit(fd: int) -> int:
    """`fd`, renumbered to the lowest free number: the host's numbers come as they are,
    past the sandbox's RLIMIT_NOFILE (1,024) on a server with ~200 environments, and
    posix_spawn refuses to dup2 an fd past it (EBADF: the runtime never started)."""
    low = os.dup(fd)
    if low > fd:
        os.close(low)
        return fd
    os.close(fd)
    return low


def main_direct(
    channel_fd: int,
    listener: _socket.socket,
    root: tuple[str, str] | None,
    bootstrap: list[str],
    fds: tuple[int, int],
) -> int:
    """`main` for a runtime that talks to the host itself (--runtime-fd/--output-fd):
    init starts it, reaps, serves HTTP and reports its exit, and nothing more."""
    runtime_fd, output_fd = (below_limit(fd) for fd in fds)
    os.set_inheritable(runtime_fd, True)  # after _private(): this one is passed on
    env = {**os.environ, RUNTIME_FD_ENV: str(runtime_fd)}
    try:
        pid = start_runtime(bootstrap, output_fd, output_fd, env, root, channel_fd)
        if pid is None:
            return 0
    finally:
        os.close(runtime_fd)  # the runtime's and the host's alone: their EOFs stay theirs
        os.close(output_fd)
    return serve_direct(channel_fd, listener, pid)


def serve_direct(channel_fd: int, listener: _socket.socket, pid: int) -> int:
    """Serve a direct-channel runtime `pid` until it ends: reap, the HTTP Runtime API,
    the host's "assign", and then its exit, to the host."""
    channel = Channel(_socket.socket(fileno=channel_fd))
    invocations = Invocations(channel)
    invocations.phase = "direct"  # the host has the runtime's state, not this HTTP API
    _thread.start_new_thread(read_host, (channel, invocations, [pid], None, True))
    _thread.start_new_thread(serve, (listener, invocations))
    report_exit(channel, os.waitstatus_to_exitcode(reap_until(pid)))
    return 0


def run_restored(channel_fd: int, address: str, runtime: int) -> None:
    """A SnapStart environment's init: this process is pid 1 of the environment forked
    from its version's template (`python/restore.py`), `runtime` its runtime (forked
    too, talking to the host directly). Serves it as `main_direct` serves the runtime it
    spawns, then ends the process."""
    if not undumpable():
        sys.stderr.write("init: cannot make itself non-dumpable (no _ctypes?)\n")
    code = serve_direct(channel_fd, listen(address), runtime)
    os._exit(code)


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
