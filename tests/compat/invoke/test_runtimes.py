"""Invoke on the nodejs runtime and on provided.al2023 with a custom `bootstrap`.

Runs against a live server with the bwrap sandbox backend (printed and recorded
per test); skipped without root or bubblewrap, and the nodejs tests without
`node` on the host (the sandbox uses the host's interpreters).
"""

from __future__ import annotations

import base64
import json
import shutil
from typing import Any

import pytest

from support.invoke import create_function, invoke_json

pytestmark = pytest.mark.compat

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="nodejs is not installed")

NODE_FILES = {
    "index.mjs": (
        "export const handler = async (event, context) =>\n"
        "  ({ doubled: event.n * 2, name: context.functionName });\n"
    ),
    "callback.js": (
        "exports.handler = (event, context, callback) => {\n"
        "  setTimeout(() => callback(null, { viaCallback: event.n }), 10);\n"
        "};\n"
    ),
    "throws.js": "exports.handler = async () => { throw new TypeError('node says no'); };\n",
    "context.js": "exports.handler = async (event, context) => context.clientContext;\n",
}

# A custom runtime written from the Runtime API docs alone: stdlib python3 only,
# since the sandbox has the host's /usr but not necessarily curl.
PYTHON_BOOTSTRAP = """#!/usr/bin/env python3
import json
import os
import urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"

while True:
    with urllib.request.urlopen(API + "/invocation/next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    result = {"custom": True, "event": event, "handler": os.environ["_HANDLER"]}
    request = urllib.request.Request(
        API + "/invocation/" + request_id + "/response",
        data=json.dumps(result).encode(),
        method="POST",
    )
    urllib.request.urlopen(request).read()
"""

SHELL_BOOTSTRAP = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
HEADERS=/tmp/next-headers
while true; do
  EVENT=$(curl -sS -D "$HEADERS" "$API/invocation/next")
  ID=$(grep -i '^lambda-runtime-aws-request-id:' "$HEADERS" | cut -d' ' -f2 | tr -d '\\r\\n')
  curl -sS -X POST "$API/invocation/$ID/response" -d "{\\"shell\\": true, \\"event\\": $EVENT}"
done
"""


@needs_node
@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("index.handler", {"doubled": 42, "name": "node-index"}),
        ("callback.handler", {"viaCallback": 21}),
    ],
    ids=["async", "callback"],
)
def test_nodejs_handler_result(lam: Any, handler: str, expected: dict[str, Any]) -> None:
    name = create_function(
        lam, f"node-{handler.split('.')[0]}", NODE_FILES, runtime="nodejs20.x", handler=handler
    )
    body, response = invoke_json(lam, name, {"n": 21})
    assert "FunctionError" not in response, body
    assert body == expected


@needs_node
def test_nodejs_throw_is_unhandled(lam: Any) -> None:
    name = create_function(
        lam, "node-throws", NODE_FILES, runtime="nodejs20.x", handler="throws.handler"
    )
    body, response = invoke_json(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "TypeError"
    assert body["errorMessage"] == "node says no"


@needs_node
def test_nodejs_client_context_with_any_characters(lam: Any) -> None:
    # Through the HTTP Runtime API the client context is a header: non-ASCII text
    # and pretty-printed JSON must still arrive whole.
    name = create_function(
        lam, "node-context", NODE_FILES, runtime="nodejs20.x", handler="context.handler"
    )
    sent = {"custom": {"greeting": "grüße ✓", "n": 1}, "env": {"locale": "de"}}
    encoded = base64.b64encode(json.dumps(sent, indent=2, ensure_ascii=False).encode()).decode()
    body, response = invoke_json(lam, name, {}, ClientContext=encoded)
    assert "FunctionError" not in response, body
    assert body["custom"] == sent["custom"] and body["env"] == sent["env"]


def test_provided_python_bootstrap(lam: Any) -> None:
    name = create_function(
        lam,
        "custom-python",
        {"bootstrap": PYTHON_BOOTSTRAP},
        runtime="provided.al2023",
        handler="my.handler",
        executable=("bootstrap",),
    )
    body, response = invoke_json(lam, name, {"x": 1})
    assert "FunctionError" not in response, body
    assert body == {"custom": True, "event": {"x": 1}, "handler": "my.handler"}


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed on the host")
def test_provided_shell_bootstrap(lam: Any) -> None:
    name = create_function(
        lam,
        "custom-shell",
        {"bootstrap": SHELL_BOOTSTRAP},
        runtime="provided.al2023",
        handler="unused",
        executable=("bootstrap",),
    )
    for n in (1, 2):  # the second one reuses the running bootstrap loop
        body, response = invoke_json(lam, name, {"n": n})
        assert "FunctionError" not in response, body
        assert body == {"shell": True, "event": {"n": n}}
