"""The web console: static pages served at `/console/`, speaking the same signed API
as every other client (see `routes.py`)."""

from lambdad.console.routes import CONSOLE_PATH, console_routes

__all__ = ["CONSOLE_PATH", "console_routes"]
