"""A deliberately crude HTTP/1.1 client for hostile tests.

httpx and botocore refuse to send what an attacker sends (endless chunked
bodies, lying Content-Length, odd headers) and give up when the server answers
before the body is sent. This one writes bytes to a socket, stops sending as
soon as the server answers or hangs up, and reads back one response.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from support.server import signature_headers

TIMEOUT_S = 30.0


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int = 0
    """Body bytes written before the server answered or hung up."""
    closed: bool = field(default=False)
    """The server closed the connection after the response."""

    @property
    def error_type(self) -> str | None:
        return self.headers.get("x-amzn-errortype")


def request(
    url: str,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: Iterable[bytes] = (),
    *,
    chunked: bool = False,
    signed: bool = True,
) -> RawResponse:
    """Send `method path` with `headers` and the `body` chunks; return the answer.

    With `chunked`, each chunk goes out in chunked transfer encoding; otherwise
    the body bytes are written as they are (say Content-Length yourself).
    A Host header for the URL is added unless `headers` has one. `signed`: with
    the server's key (SigV4, UNSIGNED-PAYLOAD), as an authenticated client.
    """
    parts = urlsplit(url)
    all_headers = {"Host": parts.netloc}
    all_headers.update(headers or {})
    if signed:
        all_headers.update(signature_headers(url, method, path, all_headers))
    if chunked:
        all_headers["Transfer-Encoding"] = "chunked"
    head = f"{method} {path} HTTP/1.1\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in all_headers.items()) + "\r\n"
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=TIMEOUT_S) as sock:
        sock.sendall(head.encode("latin-1"))
        sent = _send_body(sock, body, chunked)
        return _read_response(sock, sent)


def _send_body(sock: socket.socket, body: Iterable[bytes], chunked: bool) -> int:
    sent = 0
    try:
        for chunk in body:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                return sent  # the server answered (or hung up) before the end
            frame = b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk
            sock.sendall(frame)
            sent += len(chunk)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def _read_response(sock: socket.socket, sent: int) -> RawResponse:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = _recv(sock)
        if not chunk:
            raise ConnectionError(f"no response (sent {sent} body bytes); got {data[:200]!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = _recv(sock)
        if not chunk:
            break
        rest += chunk
    closed = headers.get("connection", "").lower() == "close"
    return RawResponse(status, headers, rest[:length], sent, closed)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except ConnectionResetError:
        return b""
