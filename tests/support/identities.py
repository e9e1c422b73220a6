"""Users and roles for tests of authorization on a live server.

`add_user` makes a user with its policy (as `lambdad users add` does) and returns
its key for `boto3_client(..., credentials=key)`; `add_role` runs `lambdad roles
add` against the server's data dir or database, and returns the role's ARN.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

from lambdad.iam import ChangeMarker, KeyPair, ServerKey, Users
from lambdad.settings import Settings
from lambdad.store import UserStore, create_engine
from support.server import ACCOUNT_ID, LambdadServer, aws_env, lambdad_command


def _database_args(server: LambdadServer) -> list[str]:
    args = ["--data-dir", str(server.data_dir)]
    return args + (["--database-url", server.database_url] if server.database_url else [])


def add_user(server: LambdadServer, name: str, policy: dict[str, Any]) -> KeyPair:
    """A new user of `server` with one identity policy; its access key."""
    url = Settings(data_dir=server.data_dir, database_url=server.database_url).sqlalchemy_url
    engine = create_engine(url)
    try:
        key_file = ServerKey.load_or_create(server.data_dir)
        changes = ChangeMarker(server.data_dir)  # as `lambdad users add` marks it
        users = Users(UserStore(engine), key_file, ACCOUNT_ID, changes.mark)
        key = users.add(name, [policy])
    finally:
        engine.dispose()
    return KeyPair(key.access_key_id, key.secret_access_key)


def add_role(server: LambdadServer, name: str, policy: dict[str, Any]) -> str:
    """Add (or update) role `name` of `server` with `lambdad roles add`; its ARN."""
    policy_file = server.data_dir.parent / f"{server.data_dir.name}.role-{name}.json"
    policy_file.write_text(json.dumps(policy))
    done = subprocess.run(
        lambdad_command(
            "roles", "add", name, "--policy", str(policy_file), *_database_args(server)
        ),
        env=aws_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"


def role_credentials(env: dict[str, str]) -> KeyPair:
    """The key, secret and token of an environment's role session (as a function sees them)."""
    return KeyPair(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env["AWS_SESSION_TOKEN"])
