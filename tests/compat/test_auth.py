"""Authentication against a live server: users' keys with boto3 and the AWS CLI,
and each way a request is refused with AWS's error."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import httpx
import pytest
import sqlalchemy as sa
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from lambdad.iam import KeyPair
from lambdad.store import create_engine
from support.lambda_calls import unique, wait_active
from support.server import REGION, ROLE, LambdadServer, aws_env, free_port, lambdad_command
from support.waiting import wait_until
from support.zips import handler_zip

pytestmark = pytest.mark.compat
FUNCTIONS = "/2015-03-31/functions"


def lambdad(server: LambdadServer, *args: str) -> subprocess.CompletedProcess[str]:
    command = lambdad_command(*args, "--data-dir", str(server.data_dir))
    if server.database_url:
        command += ["--database-url", server.database_url]
    env = aws_env(endpoint=server.url)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def printed_key(output: str) -> KeyPair:
    values = dict(
        line.strip().split("=", 1) for line in output.splitlines() if line.startswith("  AWS_")
    )
    return KeyPair(values["AWS_ACCESS_KEY_ID"], values["AWS_SECRET_ACCESS_KEY"])


def client_with(server: LambdadServer, key: KeyPair, token: str | None = None) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        aws_session_token=token,
        config=Config(retries={"max_attempts": 1}),
    )


def refused(call: Any, code: str) -> str:
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    assert error["Error"]["Code"] == code
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    message: str = error["Error"]["Message"]
    return message


@pytest.fixture
def user(server: LambdadServer) -> Iterator[tuple[str, KeyPair]]:
    """A user allowed to list functions (what these tests call; authorization is
    tested in test_authorization_boto3.py)."""
    name = unique("user")
    policy = server.data_dir.parent / f"{name}.policy.json"
    listing = {"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}
    policy.write_text(json.dumps({"Version": "2012-10-17", "Statement": [listing]}))
    added = lambdad(server, "users", "add", name, "--policy", str(policy))
    assert added.returncode == 0, added.stderr
    assert f"arn:aws:iam::000000000000:user/{name}" in added.stdout
    yield name, printed_key(added.stdout)
    lambdad(server, "users", "rm", name)


def signed_request(
    server: LambdadServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    at: datetime | None = None,
) -> AWSRequest:
    """A request signed as boto3 signs it (at time `at`), not sent yet."""
    request = AWSRequest(method=method, url=server.url + path, data=body, headers=headers or {})
    key = server.admin_key
    assert key is not None
    signer = SigV4Auth(Credentials(key.access_key_id, key.secret_access_key), "lambda", REGION)
    if at is None:
        signer.add_auth(request)
    else:
        with mock.patch("botocore.auth.get_current_datetime", return_value=at):
            signer.add_auth(request)
    return request


def send(request: AWSRequest, body: bytes | None = None) -> httpx.Response:
    return httpx.request(
        request.method,
        request.url,
        headers=dict(request.headers.items()),
        content=request.body if body is None else body,
        timeout=30,
    )


def test_the_admin_key_is_in_a_private_file(server: LambdadServer) -> None:
    path = server.data_dir / "credentials"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(server.data_dir / "server.key").st_mode) == 0o600
    assert server.full_log().count("made the admin user") == 1


def test_a_users_keys_work_with_boto3_and_the_aws_cli(
    server: LambdadServer, user: tuple[str, KeyPair]
) -> None:
    _name, key = user
    assert "Functions" in client_with(server, key).list_functions()
    env = aws_env(endpoint=server.url)
    env.update(AWS_ACCESS_KEY_ID=key.access_key_id, AWS_SECRET_ACCESS_KEY=key.secret_access_key)
    listed = subprocess.run(
        [sys.executable, "-m", "awscli", "--endpoint-url", server.url, "lambda", "list-functions"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    wrong = subprocess.run(
        [sys.executable, "-m", "awscli", "--endpoint-url", server.url, "lambda", "list-functions"],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert wrong.returncode != 0
    assert "InvalidSignatureException" in wrong.stderr


def test_wrong_and_unknown_keys(server: LambdadServer, user: tuple[str, KeyPair]) -> None:
    _name, key = user
    wrong = client_with(server, KeyPair(key.access_key_id, "x" * 40))
    message = refused(wrong.list_functions, "InvalidSignatureException")
    assert message.startswith("The request signature we calculated does not match")
    unknown = client_with(server, KeyPair("AKIAUNKNOWNUNKNOWN00", key.secret_access_key))
    message = refused(unknown.list_functions, "UnrecognizedClientException")
    assert message == "The security token included in the request is invalid."
    # The JSON protocol's APIs answer in their own shape (botocore reads `__type`).
    events = boto3.client(
        "events",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id="AKIAUNKNOWNUNKNOWN00",
        aws_secret_access_key=key.secret_access_key,
    )
    refused(events.list_rules, "UnrecognizedClientException")


def test_a_session_token_with_a_long_term_key_is_refused(
    server: LambdadServer, user: tuple[str, KeyPair]
) -> None:
    _name, key = user
    with_token = client_with(server, key, token="a-token-no-one-issued")
    refused(with_token.list_functions, "UnrecognizedClientException")


def test_an_unsigned_request_is_refused(server: LambdadServer) -> None:
    answer = httpx.get(server.url + FUNCTIONS)
    assert answer.status_code == 403
    assert answer.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert answer.json()["message"] == "Missing Authentication Token"


def test_a_tampered_body_or_signed_header_is_refused(server: LambdadServer) -> None:
    path = f"{FUNCTIONS}/{unique('nope')}/invocations"
    headers = {"X-Amz-Invocation-Type": "DryRun"}
    request = signed_request(server, "POST", path, b'{"a": 1}', headers)
    assert send(request).status_code == 404  # signed as it is: it reaches the API
    tampered = send(request, b'{"a": 2}')
    assert (tampered.status_code, tampered.headers["x-amzn-ErrorType"]) == (
        403,
        "InvalidSignatureException",
    )
    request.headers.replace_header("X-Amz-Invocation-Type", "Event")
    assert send(request).headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def test_a_body_that_is_not_its_declared_hash_changes_nothing(
    server: LambdadServer, lambda_client: Any
) -> None:
    name = unique("hash")
    lambda_client.create_function(
        FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": handler_zip()}, Description="before",
    )  # fmt: skip
    path = f"{FUNCTIONS}/{name}/configuration"
    signed_body = b'{"Description": "signed"}'
    headers = {
        "Content-Type": "application/json",
        "X-Amz-Content-SHA256": sha256(signed_body).hexdigest(),
    }
    request = signed_request(server, "PUT", path, signed_body, headers)
    tampered = send(request, b'{"Description": "forged"}')
    assert tampered.status_code == 403
    assert tampered.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    got = lambda_client.get_function_configuration(FunctionName=name)
    assert got["Description"] == "before"
    assert send(request).status_code == 200
    assert lambda_client.get_function_configuration(FunctionName=name)["Description"] == "signed"


def test_a_replayed_request_past_15_minutes_is_refused(server: LambdadServer) -> None:
    now = datetime.now(UTC)
    fresh = signed_request(server, "GET", FUNCTIONS, at=now - timedelta(minutes=10))
    assert send(fresh).status_code == 200
    stale = signed_request(server, "GET", FUNCTIONS, at=now - timedelta(minutes=20))
    answer = send(stale)
    assert answer.status_code == 403
    assert answer.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert answer.json()["message"].startswith("Signature expired: ")
    assert answer.json()["message"].endswith(" - 15 min.)")
    future = send(signed_request(server, "GET", FUNCTIONS, at=now + timedelta(minutes=20)))
    assert future.json()["message"].startswith("Signature not yet current: ")


def presigned_url(server: LambdadServer, expires: int, at: datetime) -> str:
    request = AWSRequest(method="GET", url=server.url + FUNCTIONS)
    key = server.admin_key
    assert key is not None
    credentials = Credentials(key.access_key_id, key.secret_access_key)
    with mock.patch("botocore.auth.get_current_datetime", return_value=at):
        SigV4QueryAuth(credentials, "lambda", REGION, expires=expires).add_auth(request)
    url: str = request.url
    return url


def test_a_presigned_url_within_and_out_of_its_window(server: LambdadServer) -> None:
    now = datetime.now(UTC)
    assert httpx.get(presigned_url(server, 300, now)).status_code == 200
    expired = httpx.get(presigned_url(server, 60, now - timedelta(minutes=2)))
    assert expired.status_code == 403
    assert expired.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert expired.json()["message"].startswith("Signature expired: ")
    changed = presigned_url(server, 300, now) + "&MaxItems=1"
    assert httpx.get(changed).headers["x-amzn-ErrorType"] == "InvalidSignatureException"


def test_rotate_and_remove_take_effect_at_once(
    server: LambdadServer, user: tuple[str, KeyPair]
) -> None:
    name, old = user
    client_with(server, old).list_functions()  # the server now remembers this key
    rotated = lambdad(server, "keys", "rotate", name)
    assert rotated.returncode == 0, rotated.stderr
    new = printed_key(rotated.stdout)
    refused(client_with(server, old).list_functions, "UnrecognizedClientException")
    client_with(server, new).list_functions()
    listed = lambdad(server, "users", "ls")
    assert name in listed.stdout and new.access_key_id in listed.stdout
    assert new.secret_access_key not in listed.stdout
    client_with(server, new).list_functions()
    assert lambdad(server, "users", "rm", name).returncode == 0
    refused(client_with(server, new).list_functions, "UnrecognizedClientException")
    again = lambdad(server, "users", "rm", name)
    assert again.returncode != 0 and "cannot be found" in again.stderr


def test_environment_variables_are_sealed_at_rest(
    server: LambdadServer, lambda_client: Any
) -> None:
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    name = unique("env")
    lambda_client.create_function(
        FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": handler_zip()}, Environment={"Variables": {"TOKEN": secret}},
        KMSKeyArn="arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )  # fmt: skip
    wait_active(lambda_client, name)
    lambda_client.publish_version(FunctionName=name)
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert config["Environment"] == {"Variables": {"TOKEN": secret}}
    assert config["KMSKeyArn"].startswith("arn:aws:kms:")
    version = lambda_client.get_function_configuration(FunctionName=name, Qualifier="1")
    assert version["Environment"] == {"Variables": {"TOKEN": secret}}
    assert secret not in server.full_log()
    # A copy of the database (every table, as text) holds the function, not the secret.
    dumped = dump_database(server)
    assert name in dumped
    assert secret not in dumped


def dump_database(server: LambdadServer) -> str:
    url = server.database_url or f"sqlite:///{server.data_dir / 'lambdad.db'}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            tables = sa.inspect(conn).get_table_names()
            rows = [
                repr(tuple(row))
                for table in tables
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"'))
            ]
    finally:
        engine.dispose()
    return "\n".join(rows)


def test_auth_off_is_refused_off_loopback(tmp_path: Path) -> None:
    env = aws_env()
    for args, extra in [
        (["--auth", "off", "--host", "0.0.0.0"], {}),
        (["--host", "0.0.0.0"], {"LAMBDAD_AUTH": "off"}),
    ]:
        command = lambdad_command(
            "server", "--port", str(free_port()), "--data-dir", str(tmp_path / "d"), *args
        )
        run = subprocess.run(
            command, capture_output=True, text=True, env={**env, **extra}, timeout=60
        )
        assert run.returncode != 0
        assert "--auth off" in run.stderr and "loopback" in run.stderr
        assert not (tmp_path / "d").exists(), "it must refuse before touching anything"


def test_auth_off_on_loopback_serves_unsigned_requests_and_says_so(tmp_path: Path) -> None:
    with LambdadServer(tmp_path / "data", args=["--auth", "off"]) as server:
        assert httpx.get(server.url + FUNCTIONS).status_code == 200

        def request_lines() -> list[str]:
            return [ln for ln in server.full_log().splitlines() if f"GET {FUNCTIONS} 200" in ln]

        # The server logs a request once its response is sent: the client may read first.
        lines = wait_until(request_lines, "the request's log line")
        log = server.full_log()
    assert "authentication is OFF" in log
    assert all("[auth off" in line for line in lines)
