"""PostgreSQL for the `postgres`-marked tests (LAMBDAD_TEST_DATABASE_URL)."""

from __future__ import annotations

import os
import re
from typing import Any

import psycopg

ENV_VAR = "LAMBDAD_TEST_DATABASE_URL"


def configured_url() -> str | None:
    url = os.environ.get(ENV_VAR) or None
    if url is not None and not url.startswith(("postgresql://", "postgres://")):
        raise RuntimeError(f"{ENV_VAR} must be a postgresql:// URL, got {url!r}")
    return url


def _connect(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True, connect_timeout=10)


def reset_schema(url: str) -> None:
    """Empty the database: drop and recreate schema `public`."""
    with _connect(url) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def fresh_database(url: str, suffix: str) -> str:
    """A new, empty database beside the configured one; returns its URL."""
    base, _, name = url.rpartition("/")
    name = name.split("?", 1)[0]
    new_name = f"{name}_{suffix}"
    if not re.fullmatch(r"[a-zA-Z0-9_]+", new_name):
        raise ValueError(f"unsafe database name {new_name!r}")
    with _connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{new_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{new_name}"')
    return f"{base}/{new_name}"


def drop_database(url: str, database_url: str) -> None:
    """Drop a database made by `fresh_database(url, ...)`."""
    name = database_url.rpartition("/")[2]
    if not re.fullmatch(r"[a-zA-Z0-9_]+", name):
        raise ValueError(f"unsafe database name {name!r}")
    with _connect(url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
