"""`lambdad users …`, `lambdad keys …` and `lambdad roles …`: the operator manages who
may call the API, and the execution roles functions act under.

They open the server's data dir and database themselves (see `cli.py` for why
not over HTTP): `--data-dir` and `--database-url` (or LAMBDAD_DATA_DIR,
LAMBDAD_DATABASE_URL) name the same ones as `lambdad server`'s.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import Engine

from lambdad.errors import LambdadError
from lambdad.iam import (
    ADMIN,
    CREDENTIALS_FILE,
    ChangeMarker,
    KeyPair,
    NewKey,
    Roles,
    ServerKey,
    Users,
    read_policy_file,
    write_credentials,
)
from lambdad.settings import Settings
from lambdad.store import RoleStore, UserStore, create_engine, migrate

_data_dir = click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="The server's data dir.  [default: .lambdad]",
)
_database_url = click.option(
    "--database-url", default=None, help="The server's PostgreSQL URL, if it uses one."
)


@contextmanager
def _database(
    data_dir: Path | None, database_url: str | None
) -> Iterator[tuple[Engine, Settings, Path]]:
    """The server's database (migrated), its settings and data dir; errors as the CLI's."""
    settings = Settings.from_env().with_overrides(data_dir=data_dir, database_url=database_url)
    folder = settings.data_dir.resolve()
    if not folder.is_dir():
        raise click.ClickException(
            f"{folder} is not a lambdad data dir (start the server once, or pass --data-dir)."
        )
    engine = create_engine(settings.sqlalchemy_url)
    try:
        migrate(engine)
        yield engine, settings, folder
    except LambdadError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        engine.dispose()


@contextmanager
def _users(data_dir: Path | None, database_url: str | None) -> Iterator[tuple[Users, Path]]:
    with _database(data_dir, database_url) as (engine, settings, folder):
        server_key = ServerKey.load_or_create(folder)
        changes = ChangeMarker(folder)  # a running server forgets what it remembered
        yield Users(UserStore(engine), server_key, settings.account_id, changes.mark), folder


def _show_once(key: NewKey) -> None:
    click.echo(f"access key for {key.user_name} (the secret is shown only now):")
    click.echo(f"  AWS_ACCESS_KEY_ID={key.access_key_id}")
    click.echo(f"  AWS_SECRET_ACCESS_KEY={key.secret_access_key}")


@click.group()
def users() -> None:
    """Manage users: who may call the API, with which policies."""


@users.command("add")
@click.argument("name")
@click.option(
    "--policy",
    "policy_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An IAM identity policy document (JSON) to attach (repeatable).",
)
@_data_dir
@_database_url
def add_user(
    name: str, policy_files: tuple[Path, ...], data_dir: Path | None, database_url: str | None
) -> None:
    """Add user NAME with an access key, and print the key (once)."""
    with _users(data_dir, database_url) as (store, _folder):
        policies: list[dict[str, Any]] = [read_policy_file(path) for path in policy_files]
        key = store.add(name, policies)
        click.echo(f"added {store.get(name).arn}")
        _show_once(key)


@users.command("ls")
@_data_dir
@_database_url
def list_users(data_dir: Path | None, database_url: str | None) -> None:
    """List users, their access key ids and how many policies each has."""
    with _users(data_dir, database_url) as (store, _folder):
        found = store.all()
    if not found:
        click.echo("no users")
        return
    click.echo(f"{'NAME':<24} {'ACCESS KEY':<22} {'POLICIES':>8}  CREATED  ARN")
    for user in found:
        created = time.strftime("%Y-%m-%d", time.localtime(user.created_at))
        keys_shown = ",".join(user.access_key_ids) or "-"
        click.echo(
            f"{user.name:<24} {keys_shown:<22} {len(user.policies):>8}  {created}  {user.arn}"
        )


@users.command("rm")
@click.argument("name")
@_data_dir
@_database_url
def remove_user(name: str, data_dir: Path | None, database_url: str | None) -> None:
    """Remove user NAME; its key stops working at once."""
    with _users(data_dir, database_url) as (store, _folder):
        store.remove(name)
    click.echo(f"removed {name}")


@click.group()
def keys() -> None:
    """Manage access keys."""


@keys.command("rotate")
@click.argument("name")
@_data_dir
@_database_url
def rotate_key(name: str, data_dir: Path | None, database_url: str | None) -> None:
    """Give user NAME a new access key (printed once); the old one stops working at once.

    Rotating the admin's key rewrites the data dir's credentials file too."""
    with _users(data_dir, database_url) as (store, folder):
        key = store.rotate(name)
    _show_once(key)
    if name == ADMIN:
        path = folder / CREDENTIALS_FILE
        write_credentials(path, KeyPair(key.access_key_id, key.secret_access_key))
        click.echo(f"(written to {path})")


@contextmanager
def _roles(data_dir: Path | None, database_url: str | None) -> Iterator[Roles]:
    with _database(data_dir, database_url) as (engine, settings, _folder):
        found = Roles(RoleStore(engine), settings.account_id)
        found.ensure_default()
        yield found


@click.group()
def roles() -> None:
    """Execution roles: a function's Role names one; its environments act under its policy."""


@roles.command("add")
@click.argument("name")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The role's IAM policy document (JSON).",
)
@_data_dir
@_database_url
def add_role(name: str, policy_file: Path, data_dir: Path | None, database_url: str | None) -> None:
    """Add role NAME with the policy in FILE (or replace the policy of NAME)."""
    with _roles(data_dir, database_url) as found:
        created = found.put(name, policy_file.read_text())
        click.echo(f"{'added' if created else 'updated'} {found.arn(name)}")


@roles.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print each role with its policy, as JSON.")
@_data_dir
@_database_url
def list_roles(as_json: bool, data_dir: Path | None, database_url: str | None) -> None:
    """List the roles."""
    with _roles(data_dir, database_url) as found:
        listed = found.list()
    if as_json:
        rows = [{"RoleName": r.name, "Arn": r.arn, "Policy": r.policy} for r in listed]
        click.echo(json.dumps(rows, indent=2))
        return
    for role in listed:
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(role.created_at))
        click.echo(f"{role.name:<32} {created}  {role.arn}")


@roles.command("rm")
@click.argument("name")
@_data_dir
@_database_url
def remove_role(name: str, data_dir: Path | None, database_url: str | None) -> None:
    """Remove role NAME (functions naming it can no longer call the API)."""
    with _roles(data_dir, database_url) as found:
        if not found.remove(name):
            raise click.ClickException(f"NoSuchEntity: The role with name {name} cannot be found.")
    click.echo(f"removed {name}")
