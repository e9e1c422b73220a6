"""The Lambda REST API over HTTP: routes, wire shapes, error rendering, function URLs."""

from lambdad.api.app import create_app
from lambdad.api.code_links import CodeLinks
from lambdad.api.context import ApiContext
from lambdad.api.url_front import FunctionUrlFront

__all__ = ["ApiContext", "CodeLinks", "FunctionUrlFront", "create_app"]
