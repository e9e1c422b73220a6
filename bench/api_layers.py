"""CPU per warm Invoke of the server's layers above `Invoker.invoke`, in process.

The ASGI stack `create_app` puts in front of Invoke (RequestLog, RequestGuard,
Authentication with a remembered key, BodyGuard, DirectInvoke and the Invoke
handler), driven with the request the bench's clients send (a SigV4-signed
POST of `{}`, signed like boto3's: no declared payload hash), over an invoker
that answers at once. No HTTP server, no sandbox, no other process: what is
left is exactly the CPU of these layers, steady on a busy machine (best of
several rounds of process time), so two trees compare within a few percent:

    .venv/bin/python bench/api_layers.py [-n 5000]
    other-tree/.venv/bin/python bench/api_layers.py   # the same layers, that tree's code

The request log goes to a discarded stream, formatted as `lambdad server`
formats it (the server's logging setup, `server_log.configure_logging`, when the
tree has it). Prints one Markdown row; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import time
from types import SimpleNamespace
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.applications import Starlette
from warm_ab import revision

from lambdad.api.app import RequestLog
from lambdad.api.auth import Authentication, Authenticator
from lambdad.api.bodies import BodyGuard
from lambdad.api.context import ApiContext
from lambdad.api.direct_invoke import DirectInvoke
from lambdad.api.guard import HostNames, RequestGuard
from lambdad.catalog.names import Account
from lambdad.iam import CredentialResolvers, Principal, ResolvedCredential

KEY_ID = "AKIAEXAMPLEEXAMPLE00"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ACCOUNT = "000000000000"
HOST = "127.0.0.1:9000"
PATH = "/2015-03-31/functions/noop/invocations"
BODY = b"{}"
ROUNDS = 5


class _Key:
    """The admin's key, remembered (as `CachedUsers` answers a warm request)."""

    credential = ResolvedCredential(SECRET, None, Principal.user(ACCOUNT, "admin", KEY_ID))

    def remembered(self, key_id: str) -> ResolvedCredential | None:
        return self.credential if key_id == KEY_ID else None

    def lookup(self, key_id: str) -> ResolvedCredential | None:
        return self.remembered(key_id)


class _Invoker:
    """Answers at once: everything below `Invoker.invoke` is left out."""

    async def resolve(self, name: str, _qualifier: str | None) -> Any:
        return SimpleNamespace(version=SimpleNamespace(version="$LATEST", function_name=name))

    async def invoke(self, _target: Any, _payload: bytes, **_kwargs: Any) -> Any:
        return SimpleNamespace(function_error=None, log_tail=None, payload=b'{"ok": true}')


class _Admin:
    def exempts(self, _principal: Any) -> bool:
        return True


def stack() -> Any:
    context = SimpleNamespace(
        settings=SimpleNamespace(region="us-east-1"),
        account=Account("us-east-1", ACCOUNT),
        region="us-east-1",
        invoker=_Invoker(),
        authorizer=_Admin(),
    )
    context.in_region = lambda _region: context
    context.resolve = lambda request: ApiContext.resolve(context, request)
    app = Starlette()
    app.state.lambdad = context
    authenticated = Authentication(
        BodyGuard(DirectInvoke(app)), Authenticator(CredentialResolvers([_Key()]))
    )
    return RequestLog(RequestGuard(authenticated, HostNames("127.0.0.1")))


def signed_headers() -> list[tuple[bytes, bytes]]:
    """The headers of one of the bench clients' requests (httpx, signed)."""
    request = AWSRequest(method="POST", url=f"http://{HOST}{PATH}", data=BODY)
    request.headers["host"] = HOST
    SigV4Auth(Credentials(KEY_ID, SECRET), "lambda", "us-east-1").add_auth(request)
    headers = [
        (b"host", HOST.encode()),
        (b"accept", b"*/*"),
        (b"accept-encoding", b"gzip, deflate"),
        (b"connection", b"keep-alive"),
        (b"user-agent", b"python-httpx/0.28"),
        (b"content-length", str(len(BODY)).encode()),
    ]
    headers += [
        (name.lower().encode(), value.encode())
        for name, value in request.headers.items()
        if name.lower() != "host"
    ]
    return headers


async def one(app: Any, headers: list[tuple[bytes, bytes]]) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 9000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": list(headers),
        "state": {},
    }
    messages = [{"type": "http.request", "body": BODY, "more_body": False}]
    status = [0]

    async def receive() -> Any:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # the client stays connected

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]

    await app(scope, receive, send)
    return status[0]


async def measure(n: int) -> float:
    app, headers = stack(), signed_headers()
    if await one(app, headers) != 200:
        raise RuntimeError("the stack did not answer 200")
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(n):
            await one(app, headers)
        best = min(best, (time.process_time() - started) / n * 1e6)
    return best


def configure_logging() -> None:
    try:
        from lambdad.server_log import configure_logging as server_logging
    except ImportError:
        pass
    else:
        server_logging("info", stream=io.StringIO())
        return
    logging.basicConfig(  # a tree from before configure_logging: serve()'s own setup
        level="INFO",
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=io.StringIO(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=5000, help="requests per round")
    args = parser.parse_args()
    configure_logging()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    per_request = asyncio.run(measure(args.n))
    print(f"| {revision()} | {per_request:.1f} µs | load {load} |")


if __name__ == "__main__":
    main()
