"""Every file of the console ships in the package (pyproject's package-data globs),
so a wheel or editable install serves the same pages as the checkout."""

from __future__ import annotations

import tomllib
from pathlib import Path

import lambdad

PACKAGE = Path(lambdad.__file__).parent
PYPROJECT = PACKAGE.parents[1] / "pyproject.toml"


def test_every_static_file_is_package_data() -> None:
    config = tomllib.loads(PYPROJECT.read_text())
    globs = config["tool"]["setuptools"]["package-data"]["lambdad"]
    shipped = {path for pattern in globs for path in PACKAGE.glob(pattern) if path.is_file()}
    static = {p for p in (PACKAGE / "console" / "static").rglob("*") if p.is_file()}
    assert static, "the console has no static files"
    assert static <= shipped, sorted(str(p.relative_to(PACKAGE)) for p in static - shipped)
