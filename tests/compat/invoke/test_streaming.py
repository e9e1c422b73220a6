"""InvokeWithResponseStream through boto3, with a provided.al2023 runtime in Python
that streams through the Runtime API's streaming mode (`streaming_bootstrap.py`).

The server runs functions with `--network host`, so a function can wait for the
test's signal on a loopback port: the first chunk must reach the test before the
function goes on (no sleeps). Streamed responses are capped at 1 MiB here so the
limit is cheap to pass.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from compat.invoke.conftest import running_server
from compat.invoke.streaming_bootstrap import BOOTSTRAP
from support.invoke import InvokeServer, allow_public, create_function
from support.server import http_auth
from support.waiting import DEFAULT_TIMEOUT_S, wait_until

pytestmark = pytest.mark.compat

LIMIT = 1 << 20
README = Path(__file__).resolve().parents[3] / "README.md"


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    limit = {"LAMBDAD_MAX_STREAMED_RESPONSE": str(LIMIT)}
    with running_server(tmp_path_factory, "streaming", ("--network", "host"), limit) as server:
        yield server


@pytest.fixture(scope="module")
def client(stream_server: InvokeServer) -> Any:
    return stream_server.client()


@pytest.fixture(scope="module")
def streamer(client: Any) -> str:
    return create_function(
        client,
        "py-streamer",
        {"bootstrap": BOOTSTRAP},
        runtime="provided.al2023",
        handler="stream.handler",
        executable=("bootstrap",),
        Timeout=30,
    )


def stream(client: Any, name: str, event: dict[str, Any], **kwargs: Any) -> Any:
    return client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps(event).encode(), **kwargs
    )


def collect(response: Any) -> tuple[bytes, dict[str, Any]]:
    """(the streamed bytes, the InvokeComplete event)."""
    data = b""
    for event in response["EventStream"]:
        if "PayloadChunk" in event:
            data += event["PayloadChunk"]["Payload"]
        if "InvokeComplete" in event:
            return data, event["InvokeComplete"]
    raise AssertionError("the stream ended without InvokeComplete")


def test_chunks_arrive_before_the_function_returns(client: Any, streamer: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(DEFAULT_TIMEOUT_S)
        port = listener.getsockname()[1]
        response = stream(client, streamer, {"action": "signal", "port": port})
        assert response["StatusCode"] == 200
        assert response["ExecutedVersion"] == "$LATEST"
        assert response["ResponseStreamContentType"] == "text/plain"
        events = iter(response["EventStream"])
        first = next(events)
        # The function is now blocked until it hears from us: this chunk came first.
        assert first["PayloadChunk"]["Payload"] == b"first|"
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"go")
            rest = b""
            complete = None
            for event in events:
                if "PayloadChunk" in event:
                    rest += event["PayloadChunk"]["Payload"]
                if "InvokeComplete" in event:
                    complete = event["InvokeComplete"]
    assert rest == b"second"
    assert complete is not None
    assert "ErrorCode" not in complete


def test_mid_stream_error_comes_in_invoke_complete(client: Any, streamer: str) -> None:
    data, complete = collect(stream(client, streamer, {"action": "fail"}))
    assert data == b"partial"
    assert complete["ErrorCode"] == "RuntimeError"
    assert complete["ErrorDetails"] == "boom mid-stream"
    # The environment stays usable: the runtime reported the error as the API says.
    data, complete = collect(stream(client, streamer, {"parts": ["again"]}))
    assert (data, complete.get("ErrorCode")) == (b"again", None)


def test_log_tail(client: Any, streamer: str) -> None:
    response = stream(client, streamer, {"parts": ["a", "b", "c"]}, LogType="Tail")
    data, complete = collect(response)
    assert data == b"abc"
    log = base64.b64decode(complete["LogResult"]).decode()
    assert "streaming 3 parts" in log
    assert "REPORT RequestId:" in log


def test_content_type_of_the_stream(client: Any, streamer: str) -> None:
    response = stream(client, streamer, {"parts": ["{}"], "content_type": "application/json"})
    assert response["ResponseStreamContentType"] == "application/json"
    assert collect(response)[0] == b"{}"


def test_buffered_response_through_the_stream_operation(client: Any, streamer: str) -> None:
    response = stream(client, streamer, {"action": "buffered"})
    data, complete = collect(response)
    assert json.loads(data) == {"buffered": True}
    assert "ErrorCode" not in complete


def test_streamed_response_through_invoke_is_kept_whole(client: Any, streamer: str) -> None:
    response = client.invoke(
        FunctionName=streamer, Payload=json.dumps({"parts": ["one ", "two"]}).encode()
    )
    assert "FunctionError" not in response
    assert response["Payload"].read() == b"one two"


def test_over_the_limit_ends_the_stream(client: Any, streamer: str) -> None:
    data, complete = collect(stream(client, streamer, {"action": "big", "size": 2 * LIMIT}))
    assert len(data) <= LIMIT
    assert complete["ErrorCode"] == "Function.ResponseSizeTooLarge"
    assert f"maximum allowed payload size ({LIMIT} bytes)" in complete["ErrorDetails"]
    data, complete = collect(stream(client, streamer, {"parts": ["after"]}))
    assert (data, complete.get("ErrorCode")) == (b"after", None)


def test_malformed_chunk_poisons_only_that_environment(client: Any, streamer: str) -> None:
    data, complete = collect(stream(client, streamer, {"action": "malformed"}))
    assert data == b"before the bad chunk|"
    assert complete["ErrorCode"] == "Runtime.TruncatedResponse"
    # A fresh environment answers the next invocation; the server is unharmed.
    data, complete = collect(stream(client, streamer, {"parts": ["fine"]}))
    assert (data, complete.get("ErrorCode")) == (b"fine", None)


def test_the_timeout_ends_a_stream(client: Any) -> None:
    name = create_function(
        client,
        "py-streamer-hangs",
        {"bootstrap": BOOTSTRAP},
        runtime="provided.al2023",
        handler="stream.handler",
        executable=("bootstrap",),
        Timeout=1,
    )
    data, complete = collect(stream(client, name, {"action": "hang"}))
    assert data == b"started|"
    assert complete["ErrorCode"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in complete["ErrorDetails"]


def test_a_client_that_leaves_ends_the_invocation(
    stream_server: InvokeServer, client: Any, streamer: str
) -> None:
    cancelled = "destroyed (invocation cancelled)"
    before = stream_server.full_log().count(cancelled)
    path = f"/2021-11-15/functions/{streamer}/response-streaming-invocations"
    auth = http_auth(stream_server.url)
    with httpx.Client(base_url=stream_server.url, auth=auth, timeout=DEFAULT_TIMEOUT_S) as http:
        with http.stream("POST", path, content=b'{"action": "hang"}') as response:
            assert response.status_code == 200
            next(response.iter_raw())  # the first chunk: the function now hangs
    # Gone long before the function's 30 s timeout: its environment is destroyed.
    wait_until(lambda: stream_server.full_log().count(cancelled) > before, "the invocation's end")
    data, complete = collect(stream(client, streamer, {"parts": ["next"]}))
    assert (data, complete.get("ErrorCode")) == (b"next", None)


def test_dry_run_and_unknown_function(client: Any, streamer: str) -> None:
    response = client.invoke_with_response_stream(FunctionName=streamer, InvocationType="DryRun")
    assert response["StatusCode"] == 204
    with pytest.raises(ClientError) as info:
        client.invoke_with_response_stream(FunctionName="no-such-function")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


NODE_FILES = {
    "index.mjs": """
import net from "node:net";

const waitForGo = (port) =>
  new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let got = "";
    sock.on("data", (d) => {
      got += d;
      if (got.endsWith("go")) { sock.end(); resolve(); }
    });
    sock.on("error", reject);
  });

export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  if (event.rawPath === "/fail-early") throw new Error("before any byte");
  if (event.action === "throw" || event.rawPath === "/throw") {
    responseStream.write("partial");
    throw new TypeError("node broke mid-stream");
  }
  responseStream.setContentType("text/event-stream");
  if (event.rawPath === "/prelude" || event.rawPath === "/prelude-throw") {
    responseStream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 201,
      headers: { "content-type": "text/plain", "x-streamed": "yes" },
      cookies: ["a=1; Path=/", "b=2"],
    });
  }
  const port = event.port || Number((event.queryStringParameters || {}).port || 0);
  responseStream.write("first|");
  if (port) await waitForGo(port);
  if (event.rawPath === "/prelude-throw") throw new Error("cut short");
  responseStream.write(`second from ${context.functionName}`);
  responseStream.end();
});
""",
}


@pytest.fixture(scope="module")
def node_streamer(client: Any) -> str:
    if shutil.which("node") is None:
        pytest.skip("nodejs is not installed")
    return create_function(
        client, "node-streamer", NODE_FILES, runtime="nodejs20.x", handler="index.handler"
    )


def test_node_streamify_response(client: Any, node_streamer: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(DEFAULT_TIMEOUT_S)
        response = stream(client, node_streamer, {"port": listener.getsockname()[1]})
        assert response["ResponseStreamContentType"] == "text/event-stream"
        events = iter(response["EventStream"])
        assert next(events)["PayloadChunk"]["Payload"] == b"first|"
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"go")
            data, complete = collect({"EventStream": events})
    assert data == b"second from node-streamer"
    assert "ErrorCode" not in complete


def test_node_throw_mid_stream(client: Any, node_streamer: str) -> None:
    data, complete = collect(stream(client, node_streamer, {"action": "throw"}))
    assert data == b"partial"
    assert complete["ErrorCode"] == "TypeError"
    assert complete["ErrorDetails"] == "node broke mid-stream"
    # Plain Invoke of the same function: the error as Invoke reports one.
    response = client.invoke(FunctionName=node_streamer, Payload=b'{"action": "throw"}')
    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "TypeError"


@pytest.fixture(scope="module")
def stream_url(client: Any, node_streamer: str) -> str:
    """The URL id of the node streamer's RESPONSE_STREAM URL."""
    config = client.create_function_url_config(
        FunctionName=node_streamer, AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )
    assert config["InvokeMode"] == "RESPONSE_STREAM"
    allow_public(client, node_streamer)
    return str(config["FunctionUrl"]).split("//", 1)[1].split(".", 1)[0]


def test_url_streams_with_the_http_prelude(stream_server: InvokeServer, stream_url: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(DEFAULT_TIMEOUT_S)
        port = listener.getsockname()[1]
        url = f"{stream_server.url}/lambda-url/{stream_url}/prelude?port={port}"
        with httpx.stream("GET", url, timeout=DEFAULT_TIMEOUT_S) as response:
            assert response.status_code == 201
            assert response.headers["content-type"] == "text/plain"
            assert response.headers["x-streamed"] == "yes"
            assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]
            pieces = response.iter_raw()
            # The function waits for us now: what arrived was sent before it returned.
            assert next(pieces) == b"first|"
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"go")
                rest = b"".join(pieces)
    assert rest == b"second from node-streamer"


def test_url_streams_a_raw_stream_as_200(stream_server: InvokeServer, stream_url: str) -> None:
    answer = httpx.get(f"{stream_server.url}/lambda-url/{stream_url}/raw", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/event-stream"
    assert answer.content == b"first|second from node-streamer"


def test_url_stream_errors(stream_server: InvokeServer, stream_url: str) -> None:
    base = f"{stream_server.url}/lambda-url/{stream_url}"
    # Before any byte: a 502, as a buffered URL answers a function error.
    answer = httpx.get(f"{base}/fail-early", timeout=30)
    assert (answer.status_code, answer.json()) == (502, {"Message": "Internal Server Error"})
    # After the body began: the response is cut short, never completed.
    for path in ("prelude-throw", "throw"):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{base}/{path}", timeout=30)


def test_the_readme_example(client: Any, node_streamer: str) -> None:
    section = README.read_text().split("## Response streaming\n", 1)[1]
    code = {lang: re.search(rf"```{lang}\n(.*?)```", section, re.S) for lang in ("js", "python")}
    assert code["js"] and code["python"]
    create_function(
        client,
        "streamer",
        {"index.mjs": code["js"].group(1)},
        runtime="nodejs20.x",
        handler="index.handler",
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code["python"].group(1), {"client": client})
    assert out.getvalue() == "streamed\nas\nit\nis\nwritten\ndone\n"
