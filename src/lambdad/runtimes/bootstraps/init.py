"""lambdad's in-sandbox init: the Lambda Runtime API, like AWS's RAPID.

Standalone and stdlib-only: it runs inside the sandbox on the host's Python
(`python -I -S init.py --listen ADDR --channel-fd N -- BOOTSTRAP...`) and
imports nothing from lambdad.

It serves the Runtime API (2018-06-01) on ADDR ("HOST:PORT" to bind, or "fd:N"
for a listening socket the host bound for it), starts the runtime's bootstrap
with stdout/stderr piped, and talks to the host over the channel fd with
frames: u32 header length | u32 body length | JSON header | raw body.

    host → init   invoke      {request_id, deadline_ms, invoked_function_arn, trace_id,
                               client_context, cognito_identity} + event bytes
    init → host   ready       the runtime asked for its first event (Init is over)
                  init_error  {error_type} + error JSON (/init/error posted, or no start)
                  result      {request_id, status: "success"|"error", error_type} + response bytes
                  log         raw stdout/stderr bytes of the runtime
                  exited      {returncode, signal}: the runtime process ended; init exits next

Logs are drained before every ready/result frame, so the host sees an
invocation's output before its result.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = struct.Struct(">II")
MAX_RESPONSE = 6291556
"""Lambda's synchronous response limit (6 MB plus framing slack, as AWS counts it)."""
MAX_BODY_READ = 64 << 20
API = "/2018-06-01/runtime"
INVOCATION_POST = re.compile(r"^/2018-06-01/runtime/invocation/([^/]+)/(response|error)$")


class Channel:
    """The host channel; send() is thread-safe, recv() is used by one thread."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.lock = threading.Lock()
        self.rfile = sock.makefile("rb")

    def send(self, kind: str, header: dict | None = None, body: bytes = b"") -> None:
        raw = json.dumps({**(header or {}), "type": kind}, separators=(",", ":")).encode()
        with self.lock:
            self.sock.sendall(PREFIX.pack(len(raw), len(body)) + raw)
            if body:
                self.sock.sendall(body)

    def recv(self) -> tuple[dict, bytes] | None:
        prefix = self.rfile.read(PREFIX.size)
        if len(prefix) < PREFIX.size:
            return None
        header_len, body_len = PREFIX.unpack(prefix)
        header = json.loads(self.rfile.read(header_len))
        body = self.rfile.read(body_len) if body_len else b""
        if len(body) < body_len:
            return None
        return header, body


class LogRelay:
    """Copies the runtime's stdout/stderr to the host as "log" frames."""

    def __init__(self, channel: Channel, fds: list[int]) -> None:
        self.channel = channel
        self.fds = list(fds)
        self.lock = threading.Lock()
        for fd in fds:
            os.set_blocking(fd, False)
        self.thread = threading.Thread(target=self._run, name="log-relay", daemon=True)
        self.thread.start()

    def _read(self, fd: int) -> bool:
        try:
            data = os.read(fd, 1 << 16)
        except BlockingIOError:
            return False
        if not data:
            self.fds.remove(fd)
            return False
        self.channel.send("log", None, data)
        return True

    def _run(self) -> None:
        while self.fds:
            readable, _, _ = select.select(self.fds, [], [], 1.0)
            with self.lock:
                for fd in readable:
                    if fd in self.fds:
                        self._read(fd)

    def drain(self) -> None:
        """Send what the runtime has written so far (it flushed before posting)."""
        with self.lock:
            for _ in range(256):  # bounded: a runtime that never stops writing can't stall us
                if not self.fds:
                    return
                readable, _, _ = select.select(self.fds, [], [], 0)
                if not readable or not any([self._read(fd) for fd in readable]):
                    return


class Invocations:
    """The Runtime API's state: Init, then one invocation at a time."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.relay: LogRelay | None = None
        self.cond = threading.Condition()
        self.phase = "init"  # init → running, or init → failed
        self.pending: collections.deque[tuple[dict, bytes]] = collections.deque()
        self.current: str | None = None
        self.finished: collections.deque[str] = collections.deque(maxlen=64)

    def drain(self) -> None:
        if self.relay is not None:
            self.relay.drain()

    def add(self, header: dict, body: bytes) -> None:
        with self.cond:
            self.pending.append((header, body))
            self.cond.notify_all()

    def next(self) -> tuple[dict, bytes]:
        with self.cond:
            if self.phase == "init":
                self.phase = "running"
                self.drain()
                self.channel.send("ready")
            while not self.pending:
                self.cond.wait()
            header, body = self.pending.popleft()
            self.current = header["request_id"]
            return header, body

    def finish(self, request_id: str) -> tuple[int, dict] | None:
        """Claim `request_id` for a response/error post; an AWS error reply if it can't be."""
        with self.cond:
            if request_id == self.current:
                self.current = None
                self.finished.append(request_id)
                return None
            if request_id in self.finished:
                return 403, {
                    "errorMessage": "Invalid state transition: invocation already completed",
                    "errorType": "InvalidStateTransition",
                }
            return 400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}

    def init_failed(self, error_type: str, body: bytes) -> bool:
        with self.cond:
            if self.phase != "init":
                return False
            self.phase = "failed"
        self.drain()
        self.channel.send("init_error", {"error_type": error_type}, body)
        return True

    def result(self, request_id: str, status: str, error_type: str | None, body: bytes) -> None:
        self.drain()
        header = {"request_id": request_id, "status": status, "error_type": error_type}
        self.channel.send("result", header, body)


class RuntimeAPI(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lambdad"
    # Headers and body go out in separate writes; with Nagle the body would wait
    # for the runtime's delayed ACK (~40 ms per request).
    disable_nagle_algorithm = True
    invocations: Invocations

    def log_message(self, format: str, *args: object) -> None:
        pass  # request logs would land in the function's log stream

    def _reply(self, status: int, body: bytes | dict, headers: dict | None = None) -> None:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if "Content-Type" not in (headers or {}):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > MAX_BODY_READ:
                    return None
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_READ:
            return None
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        if self.path.split("?")[0] != API + "/invocation/next":
            self._reply(404, {"errorMessage": "not found", "errorType": "NotFound"})
            return
        header, body = self.invocations.next()
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
        self._reply(200, body, headers)

    def do_POST(self) -> None:
        path = self.path.split("?")[0]
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._reply(413, _too_large())
            return
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
        if path == API + "/init/error":
            if self.invocations.init_failed(error_type or _error_type(body), body):
                self._reply(202, {"status": "OK"})
            else:
                self._reply(403, _bad_transition("InitError"))
            return
        m = INVOCATION_POST.match(path)
        if not m:
            self._reply(404, {"errorMessage": "not found", "errorType": "NotFound"})
            return
        request_id, kind = m.groups()
        refused = self.invocations.finish(request_id)
        if refused:
            self._reply(*refused)
            return
        if kind == "response" and len(body) > MAX_RESPONSE:
            self._reply(413, _too_large())
            message = (
                f"Response payload size ({len(body)} bytes) exceeded maximum allowed "
                f"payload size ({MAX_RESPONSE} bytes)."
            )
            err = {"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}
            self.invocations.result(
                request_id, "error", "Function.ResponseSizeTooLarge", json.dumps(err).encode()
            )
            return
        if kind == "response":
            self.invocations.result(request_id, "success", None, body)
        else:
            self.invocations.result(request_id, "error", _error_type(body) or error_type, body)
        self._reply(202, {"status": "OK"})


def _error_type(body: bytes) -> str | None:
    try:
        value = json.loads(body).get("errorType")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def _too_large() -> dict:
    return {
        "errorMessage": f"Exceeded maximum allowed payload size ({MAX_RESPONSE} bytes).",
        "errorType": "RequestEntityTooLarge",
    }


def _bad_transition(to: str) -> dict:
    return {
        "errorMessage": f"State transition from Ready to {to} failed for runtime.",
        "errorType": "InvalidStateTransition",
    }


def _listen(address: str) -> socket.socket:
    if address.startswith("fd:"):
        return socket.socket(fileno=int(address[3:]))
    host, _, port = address.rpartition(":")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(64)
    return sock


def _serve(sock: socket.socket, invocations: Invocations) -> None:
    handler = type("Handler", (RuntimeAPI,), {"invocations": invocations})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="runtime-api", daemon=True).start()


def _read_host(channel: Channel, invocations: Invocations, child: list) -> None:
    while True:
        frame = channel.recv()
        if frame is None:
            break
        header, body = frame
        if header.get("type") == "invoke":
            invocations.add(header, body)
    # The host is gone: nobody can use this sandbox any more.
    for proc in child:
        try:
            proc.kill()
        except OSError:
            pass
    os._exit(0)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="init")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--channel-fd", type=int, required=True)
    split = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:split])
    bootstrap = argv[split + 1 :]

    channel = Channel(socket.socket(fileno=args.channel_fd))
    invocations = Invocations(channel)
    _serve(_listen(args.listen), invocations)
    child: list[subprocess.Popen] = []
    threading.Thread(
        target=_read_host, args=(channel, invocations, child), name="host", daemon=True
    ).start()

    try:
        proc = subprocess.Popen(bootstrap, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except (OSError, IndexError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        message = f"Error: fork/exec {bootstrap[0] if bootstrap else ''}: {reason.lower()}"
        err = {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": message}
        invocations.init_failed("Runtime.InvalidEntrypoint", json.dumps(err).encode())
        channel.send("exited", {"returncode": 127, "signal": None})
        return 0
    child.append(proc)
    assert proc.stdout is not None and proc.stderr is not None
    invocations.relay = LogRelay(channel, [proc.stdout.fileno(), proc.stderr.fileno()])
    returncode = proc.wait()
    # Output still in the pipes belongs to the last invocation; grandchildren may
    # keep the pipes open, so don't wait for EOF forever.
    invocations.relay.thread.join(timeout=0.2)
    invocations.relay.drain()
    sig = -returncode if returncode < 0 else None
    channel.send("exited", {"returncode": None if sig else returncode, "signal": sig})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
