"""Network modes through a live server: `--network egress`, narrowed by a function to none.

The internet is `support.internet`'s stand-in namespace; the host's loopback
is what must stay out of reach.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from compat.invoke.conftest import running_server
from lambdad.sandbox.egress import egress_tools
from support.internet import ASK_SOURCE, Internet, made_internet
from support.invoke import InvokeServer, create_function, invoke_json
from support.lambda_calls import unique
from support.server import boto3_client

pytestmark = [
    pytest.mark.compat,
    pytest.mark.skipif(
        os.geteuid() != 0 or egress_tools() is None,
        reason="egress needs root, slirp4netns, nsenter and iproute2",
    ),
]

PROBE = (
    ASK_SOURCE
    + """
import os, urllib.error, urllib.request


def handler(event, context):
    api = os.environ["AWS_ENDPOINT_URL_LAMBDA"]
    try:  # unsigned: lambdad's answer is its refusal (the path to it is what is probed)
        with urllib.request.urlopen(api + "/2016-08-19/account-settings", timeout=10) as answer:
            own_api = [answer.status, None]
    except urllib.error.HTTPError as refused:
        own_api = [refused.code, refused.headers.get("x-amzn-ErrorType")]
    return {
        "internet": ask(event["internet"], 8080),
        "host": ask("10.0.2.2", event["host_port"]),
        "own_api": own_api,
    }
"""
)


LAMBDAD_ANSWER = [403, "MissingAuthenticationTokenException"]


@pytest.fixture(scope="module")
def internet() -> Iterator[Internet]:
    with made_internet() as net:
        yield net


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    with running_server(tmp_path_factory, "egress", ("--network", "egress")) as served:
        yield served


@pytest.fixture(scope="module")
def lam(server: InvokeServer) -> Any:
    return boto3_client(server.url)


def probe(lam: Any, internet: Internet, server: InvokeServer, **config: Any) -> dict[str, Any]:
    name = create_function(lam, unique("net"), {"app.py": PROBE}, Timeout=30, **config)
    got, response = invoke_json(lam, name, {"internet": internet.address, "host_port": server.port})
    assert "FunctionError" not in response, got
    result: dict[str, Any] = got
    return result


def test_egress_reaches_the_internet_not_the_hosts_loopback(
    lam: Any, internet: Internet, server: InvokeServer
) -> None:
    got = probe(lam, internet, server)
    assert got["internet"] == "from the internet"
    assert got["host"].split(":")[0].endswith("Error"), got["host"]
    # lambdad's API, through its forward (it refuses an unsigned call as AWS does)
    assert got["own_api"] == LAMBDAD_ANSWER


def test_a_function_narrows_egress_to_none(
    lam: Any, internet: Internet, server: InvokeServer
) -> None:
    got = probe(lam, internet, server, Environment={"Variables": {"LAMBDAD_NETWORK": "none"}})
    assert got["internet"] == "OSError: Network is unreachable"  # no way out
    assert got["own_api"] == LAMBDAD_ANSWER
