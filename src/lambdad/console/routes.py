"""The console's routes: its static files, and the little it must know before sign-in.

The console is a set of hand-written ES modules and CSS shipped in the package
(`static/`), with no build step. Its pages are not signed (a browser loads
them before anyone signs in); everything they show comes from the signed API,
with the key the user signs in with. `/console/settings.json` tells the pages
the server's default region and whether authentication is off (every page
then says so).

The pages forbid being framed and loading anything from another origin (a
Content-Security-Policy of 'self'), so a signed-in console cannot be
clickjacked or made to run someone else's script.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lambdad.api.authorization import PUBLIC, register
from lambdad.api.context import ApiContext

CONSOLE_PATH = "/console"
STATIC_DIR = Path(__file__).parent / "static"

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # Pages and modules change with the server: revalidate rather than run stale code.
    (b"cache-control", b"no-cache"),
]


class _SecureHeaders:
    """Adds `SECURITY_HEADERS` to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() not in {b"cache-control"}
                ]
                message = {**message, "headers": [*headers, *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def console_settings(request: Request) -> Response:
    """What the pages need before sign-in: the default region, whether auth is on, the
    account id (in every ARN the API shows; AWS does not hold account ids secret)."""
    settings = ApiContext.of(request).settings
    return JSONResponse(
        {
            "region": settings.region,
            "authEnabled": settings.auth_enabled,
            "accountId": settings.account_id,
        }
    )


async def to_console(_request: Request) -> Response:
    return RedirectResponse(f"{CONSOLE_PATH}/", status_code=308)


# Public: the pages load before sign-in; what they show comes from signed requests.
register(console_settings, PUBLIC)
register(to_console, PUBLIC)


def console_routes() -> list[BaseRoute]:
    """The routes to add to the API's table."""
    files = StaticFiles(directory=STATIC_DIR, html=True)
    return [
        Route(CONSOLE_PATH, to_console, methods=["GET", "HEAD"]),
        Route(f"{CONSOLE_PATH}/settings.json", console_settings, methods=["GET"]),
        Mount(CONSOLE_PATH, app=_SecureHeaders(files), name="console"),
    ]
