"""The Lambda REST API over HTTP: routes, wire shapes, error rendering."""

from lambdad.api.app import create_app
from lambdad.api.code_links import CodeLinks
from lambdad.api.context import ApiContext

__all__ = ["ApiContext", "CodeLinks", "create_app"]
