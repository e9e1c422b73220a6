"""The console's SigV4 signer (static/js/sigv4.js) signs a request exactly as
botocore does: the same request gives the same Authorization header, with
WebCrypto and with the console's own SHA-256/HMAC (used outside secure contexts)."""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any
from unittest import mock
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from support.console_js import READ_STDIN, module_url, run_node

HOST = "127.0.0.1:9000"
WHEN = datetime(2026, 3, 14, 15, 9, 26)
KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

CASES: list[dict[str, Any]] = [
    {
        "service": "lambda",
        "method": "GET",
        "path": "/2015-03-31/functions/",
        "query": [["MaxItems", "1"]],
        "headers": {},
        "body": "",
    },
    {
        "service": "lambda",
        "method": "POST",
        "path": "/2015-03-31/functions/my-fn/invocations",
        "query": [["Qualifier", "live"]],
        "headers": {"Content-Type": "application/json", "X-Amz-Log-Type": "Tail"},
        "body": '{"key1": "value1", "ünï": "çødé"}',
    },
    {
        # A function named by ARN (its colons encoded in the path), an odd query.
        "service": "lambda",
        "method": "GET",
        "path": "/2015-03-31/functions/"
        + quote("arn:aws:lambda:us-east-1:000000000000:function:demo", safe="")
        + "/configuration",
        "query": [["b", "two words/*!'()"], ["a", "ü"], ["a", "0"], ["Marker", ""]],
        "headers": {},
        "body": "",
    },
    {
        "service": "events",
        "method": "POST",
        "path": "/",
        "query": [],
        "headers": {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSEvents.ListRuleNamesByTarget",
        },
        "body": '{"TargetArn": "arn:aws:lambda:us-east-1:000000000000:function:demo"}',
        "sessionToken": "the/session+token==",
    },
    {
        # A binary body (a zip), sent base64 to Node and signed as bytes.
        "service": "lambda",
        "method": "PUT",
        "path": "/2015-03-31/functions/demo/code",
        "query": [],
        "headers": {"Content-Type": "application/zip"},
        "binary": base64.b64encode(bytes(range(256)) * 300).decode(),
    },
]

SIGN_ALL = f"""
import {{ signRequest }} from "{module_url("sigv4.js")}";
{READ_STDIN}
const out = [];
for (const c of input.cases) {{
  const body = c.binary !== undefined ? new Uint8Array(Buffer.from(c.binary, "base64")) : c.body;
  for (const webCrypto of [true, false]) {{
    out.push(await signRequest({{
      ...c, body, webCrypto, host: input.host, region: "eu-west-1",
      accessKeyId: input.keyId, secretAccessKey: input.secret, date: new Date(input.when),
    }}));
  }}
}}
console.log(JSON.stringify(out));
"""


def botocore_headers(case: dict[str, Any]) -> dict[str, str]:
    """What botocore sends for the same request: URL, headers and body."""
    query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in case["query"])
    url = f"http://{HOST}{case['path']}" + (f"?{query}" if query else "")
    body = base64.b64decode(case["binary"]) if "binary" in case else case["body"].encode()
    request = AWSRequest(method=case["method"], url=url, data=body, headers=case["headers"])
    request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    credentials = Credentials(KEY_ID, SECRET, case.get("sessionToken"))
    with mock.patch("botocore.auth.get_current_datetime", return_value=WHEN):
        SigV4Auth(credentials, case["service"], "eu-west-1").add_auth(request)
    return dict(request.headers.items())


@pytest.fixture(scope="module")
def js_signed() -> list[dict[str, str]]:
    data = {"cases": CASES, "host": HOST, "keyId": KEY_ID, "secret": SECRET}
    data["when"] = WHEN.isoformat() + "Z"
    signed: list[dict[str, str]] = run_node(SIGN_ALL, data)
    return signed


@pytest.mark.parametrize("index", range(len(CASES)))
@pytest.mark.parametrize("webcrypto", [True, False], ids=["webcrypto", "pure-js"])
def test_js_signature_is_botocores(
    js_signed: list[dict[str, str]], index: int, webcrypto: bool
) -> None:
    expected = botocore_headers(CASES[index])
    got = js_signed[index * 2 + (0 if webcrypto else 1)]
    assert got["Authorization"] == expected["Authorization"]
    assert got["X-Amz-Date"] == expected["X-Amz-Date"] == "20260314T150926Z"
    if "sessionToken" in CASES[index]:
        assert got["X-Amz-Security-Token"] == expected["X-Amz-Security-Token"]
