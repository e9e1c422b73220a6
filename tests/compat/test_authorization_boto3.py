"""Authorization through boto3 on a live server: users held to their policies,
explicit denies, resource policies, execution roles and their credentials."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from lambdad.client_signing import SigV4HttpxAuth
from lambdad.iam import KeyPair
from support.identities import add_role, add_user, role_credentials
from support.lambda_calls import error_of, new_function, unique, wait_active
from support.lambda_calls import function_arn as arn
from support.server import ACCOUNT_ID, REGION, LambdadServer, boto3_client
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = pytest.mark.compat

# A function that hands back the credentials its environment was given.
CREDENTIALS_SOURCE = (
    "import os\n"
    "def handler(event, context):\n"
    "    keys = ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN')\n"
    "    return {k: os.environ[k] for k in keys}\n"
)


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:user/{name}"


def denied(exc: pytest.ExceptionInfo[ClientError]) -> str:
    code, message, status = error_of(exc)
    assert (code, status) == ("AccessDeniedException", 403), message
    return message


def test_a_user_allowed_one_invoke_can_do_that_and_nothing_else(
    lambda_client: Any, server: LambdadServer
) -> None:
    mine, other = new_function(lambda_client, "az-mine"), new_function(lambda_client, "az-other")
    name = unique("bob")
    allowed = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": arn(mine)}
    bob = boto3_client(server.url, credentials=add_user(server, name, policy(allowed)))

    assert bob.invoke(FunctionName=mine)["StatusCode"] == 200
    with pytest.raises(ClientError) as exc:
        bob.invoke(FunctionName=other)
    assert denied(exc) == (
        f"User: {user_arn(name)} is not authorized to perform: lambda:InvokeFunction on "
        f"resource: {arn(other)} because no identity-based policy allows the "
        "lambda:InvokeFunction action"
    )
    with pytest.raises(ClientError) as exc:
        bob.invoke(FunctionName=mine, Qualifier="$LATEST")  # a qualified ARN is another resource
    denied(exc)
    calls: list[Callable[[], Any]] = [
        lambda: bob.get_function(FunctionName=mine),
        lambda: bob.get_function_configuration(FunctionName=mine),
        lambda: bob.delete_function(FunctionName=mine),
        lambda: bob.update_function_configuration(FunctionName=mine, Timeout=5),
        lambda: bob.add_permission(
            FunctionName=mine, StatementId="x", Action="lambda:*", Principal="*"
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert f"on resource: {arn(mine)} because" in denied(exc)
    with pytest.raises(ClientError) as exc:
        bob.list_functions()
    assert "lambda:ListFunctions on resource: * because" in denied(exc)
    lambda_client.get_function(FunctionName=mine)  # nothing was deleted


def test_streamed_invokes_and_schedules_are_authorized_too(
    lambda_client: Any, server: LambdadServer
) -> None:
    mine, other = new_function(lambda_client, "az-mine"), new_function(lambda_client, "az-other")
    name = unique("sched")
    schedules = f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/default/mine-*"
    key = add_user(
        server,
        name,
        policy(
            {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": arn(mine)},
            {"Effect": "Allow", "Action": "scheduler:GetSchedule", "Resource": schedules},
        ),
    )
    user = boto3_client(server.url, credentials=key)
    # InvokeWithResponseStream is lambda:InvokeFunction, as on AWS.
    response = user.invoke_with_response_stream(FunctionName=mine, Payload=b"{}")
    assert [e for e in response["EventStream"] if "InvokeComplete" in e]
    with pytest.raises(ClientError) as exc:
        user.invoke_with_response_stream(FunctionName=other, Payload=b"{}")
    assert "lambda:InvokeFunction" in denied(exc)

    scheduler = boto3_client(server.url, service="scheduler", credentials=key)
    with pytest.raises(ClientError) as exc:
        scheduler.get_schedule(Name="mine-1")  # allowed, and missing
    assert error_of(exc)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        scheduler.get_schedule(Name="theirs")
    assert "schedule/default/theirs because" in denied(exc)
    with pytest.raises(ClientError) as exc:
        scheduler.list_schedules()
    assert "scheduler:ListSchedules on resource: *" in denied(exc)


def test_an_explicit_deny_beats_an_allow(lambda_client: Any, server: LambdadServer) -> None:
    fn = new_function(lambda_client, "az-deny")
    name = unique("carol")
    carol = boto3_client(
        server.url,
        credentials=add_user(
            server,
            name,
            policy(
                {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"},
                {"Effect": "Deny", "Action": "lambda:Invoke*", "Resource": arn(fn)},
            ),
        ),
    )
    assert carol.get_function(FunctionName=fn)["Configuration"]["FunctionName"] == fn
    with pytest.raises(ClientError) as exc:
        carol.invoke(FunctionName=fn)
    assert denied(exc) == (
        f"User: {user_arn(name)} is not authorized to perform: lambda:InvokeFunction on "
        f"resource: {arn(fn)} with an explicit deny in an identity-based policy"
    )


def test_a_function_policy_alone_lets_a_user_invoke_it(
    lambda_client: Any, server: LambdadServer
) -> None:
    fn = new_function(lambda_client, "az-resource")
    name = unique("dave")
    listing = {"Effect": "Allow", "Action": "lambda:ListFunctions", "Resource": "*"}
    dave = boto3_client(server.url, credentials=add_user(server, name, policy(listing)))
    with pytest.raises(ClientError) as exc:
        dave.invoke(FunctionName=fn)
    denied(exc)
    lambda_client.add_permission(
        FunctionName=fn,
        StatementId="dave",
        Action="lambda:InvokeFunction",
        Principal=user_arn(name),
    )
    assert dave.invoke(FunctionName=fn)["StatusCode"] == 200
    with pytest.raises(ClientError) as exc:
        dave.get_policy(FunctionName=fn)  # the statement grants invoking only
    denied(exc)


def test_a_function_needs_a_role_that_exists(lambda_client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function(
            FunctionName=unique("az-norole"),
            Runtime="python3.12",
            Handler="app.handler",
            Role=f"arn:aws:iam::{ACCOUNT_ID}:role/no-such-role",
            Code={"ZipFile": make_zip({"app.py": CREDENTIALS_SOURCE})},
        )
    assert error_of(exc) == (
        "InvalidParameterValueException",
        "The role defined for the function cannot be assumed by Lambda.",
        400,
    )


def credentials_of(client: Any, role_arn: str, prefix: str = "az-creds") -> tuple[str, Any]:
    """A new function with role `role_arn`, and the credentials its environment got."""
    name = unique(prefix)
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=role_arn,
        Code={"ZipFile": make_zip({"app.py": CREDENTIALS_SOURCE})},
    )
    wait_active(client, name)
    result = client.invoke(FunctionName=name)
    assert "FunctionError" not in result, result["Payload"].read()
    return name, json.loads(result["Payload"].read())


def role_client(url: str, env: dict[str, str]) -> Any:
    return boto3_client(url, credentials=role_credentials(env))


def test_role_credentials_are_held_to_the_role_policy(
    lambda_client: Any, server: LambdadServer, tmp_path: Path
) -> None:
    b, c = new_function(lambda_client, "az-b"), new_function(lambda_client, "az-c")
    role = unique("invoker")
    allowed = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": arn(b)}
    role_arn = add_role(server, role, policy(allowed))
    caller, env = credentials_of(lambda_client, role_arn)
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")

    as_role = role_client(server.url, env)
    assert as_role.invoke(FunctionName=b)["StatusCode"] == 200
    with pytest.raises(ClientError) as exc:
        as_role.invoke(FunctionName=c)
    assert denied(exc) == (
        f"User: arn:aws:sts::{ACCOUNT_ID}:assumed-role/{role}/{caller} is not authorized "
        f"to perform: lambda:InvokeFunction on resource: {arn(c)} because no "
        "identity-based policy allows the lambda:InvokeFunction action"
    )
    # The role's policy is read at each request: a new one applies at once.
    add_role(server, role, policy({**allowed, "Resource": arn(c)}))
    assert as_role.invoke(FunctionName=c)["StatusCode"] == 200

    # Without its session token the key is not accepted.
    tokenless = boto3_client(
        server.url, credentials=KeyPair(env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"])
    )
    with pytest.raises(ClientError):
        tokenless.invoke(FunctionName=c)


def test_role_credentials_expire_and_environments_get_fresh_ones(
    tmp_path: Path, own_database_url: str | None
) -> None:
    with LambdadServer(
        tmp_path / "data",
        own_database_url,
        env={"LAMBDAD_ROLE_CREDENTIALS_TTL_S": "8"},
    ) as short:
        admin = boto3_client(short.url)
        target = new_function(admin, "az-target")
        role = "invoker"
        allowed = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}
        role_arn = add_role(short, role, policy(allowed))
        caller, env = credentials_of(admin, role_arn)
        as_role = role_client(short.url, env)
        assert as_role.invoke(FunctionName=target)["StatusCode"] == 200

        def refused() -> dict[str, Any] | None:
            try:
                as_role.invoke(FunctionName=target)
            except ClientError as exc:
                error: dict[str, Any] = exc.response["Error"]
                return error
            return None

        error = wait_until(refused, "the role credentials to expire", interval_s=0.2)
        assert error["Code"] == "ExpiredTokenException", error

        # The environment that held them was retired: the next one has new credentials.
        _again = admin.invoke(FunctionName=caller)
        fresh = json.loads(_again["Payload"].read())
        assert fresh["AWS_ACCESS_KEY_ID"] != env["AWS_ACCESS_KEY_ID"]
        assert role_client(short.url, fresh).invoke(FunctionName=target)["StatusCode"] == 200


def test_a_function_url_with_aws_iam_asks_the_callers_policies(
    lambda_client: Any, server: LambdadServer
) -> None:
    fn = new_function(lambda_client, "az-url")
    url = lambda_client.create_function_url_config(FunctionName=fn, AuthType="AWS_IAM")
    url_id = url["FunctionUrl"].split("//", 1)[1].split(".", 1)[0]
    path_url = f"{server.url}/lambda-url/{url_id}/"
    via_url = {"Effect": "Allow", "Action": "lambda:InvokeFunctionUrl", "Resource": arn(fn)}
    invoke = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": arn(fn)}

    both = add_user(server, unique("erin"), policy(via_url, invoke))
    answer = httpx.get(path_url, auth=SigV4HttpxAuth(both, REGION, "lambda"))
    assert answer.status_code == 200, answer.text

    url_only = add_user(server, unique("frank"), policy(via_url))
    answer = httpx.get(path_url, auth=SigV4HttpxAuth(url_only, REGION, "lambda"))
    assert (answer.status_code, answer.json()) == (403, {"Message": "Forbidden"})
