"""Real environments end to end: init, the Runtime API and the built-in runtimes."""

from __future__ import annotations

import base64
import json
import shutil
from typing import Any

import pytest

from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes import BOOTSTRAP_DIR
from support.envkit import make_spec, request

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

HELLO = """
import logging
count = 0
def handler(event, context):
    global count
    count += 1
    print("hello", count)
    logging.getLogger().warning("warned")
    return {"count": count, "event": event}
"""


async def test_python_hello_warm_reuse(start_env: Any) -> None:
    env = await start_env({"app.py": HELLO})
    assert env.init_error is None
    first = await env.invoke(request({"k": 1}), 30)
    second = await env.invoke(request({"k": 2}), 30)
    assert json.loads(first.payload) == {"count": 1, "event": {"k": 1}}
    assert json.loads(second.payload) == {"count": 2, "event": {"k": 2}}
    assert second.function_error is None and second.reusable
    assert b"hello 2\n" in second.logs
    assert b"[WARNING]\t" in second.logs and b"\twarned" in second.logs


CONTEXT = """
import os
def handler(event, context):
    cc = context.client_context
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb,
        "request_id": context.aws_request_id,
        "group": context.log_group_name,
        "stream": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "client": cc.client.app_title if cc else None,
        "custom": cc.custom if cc else None,
        "cc_env": cc.env if cc else None,
        "identity": [context.identity.cognito_identity_id,
                     context.identity.cognito_identity_pool_id],
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "env": {k: os.environ.get(k) for k in (
            "AWS_LAMBDA_FUNCTION_NAME", "AWS_EXECUTION_ENV", "LAMBDA_TASK_ROOT", "_HANDLER",
            "AWS_LAMBDA_RUNTIME_API", "TZ", "AWS_REGION", "AWS_ACCESS_KEY_ID", "PYTHONPATH",
            "AWS_LAMBDA_INITIALIZATION_TYPE")},
    }
"""


ORPHANS = """
import os, subprocess, time
def state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
def others():
    ours = ("1", str(os.getpid()))
    return {p: state(p) for p in os.listdir("/proc") if p.isdigit() and p not in ours}
def handler(event, context):
    # Orphans: their parent (sh) is gone before they end, so pid 1 inherits them.
    subprocess.run(["sh", "-c", "sleep 0.05 & sleep 0.05 &"], check=True)
    deadline = time.monotonic() + 10
    while others() and time.monotonic() < deadline:
        time.sleep(0.01)
    return {"ppid": os.getppid(), "left": others()}
"""


async def test_init_is_pid_1_and_reaps_what_the_function_leaves(
    tmp_path: Any, bwrap_backend: Any
) -> None:
    env = await ExecutionEnvironment.start(make_spec(tmp_path, {"app.py": ORPHANS}), bwrap_backend)
    try:
        out = json.loads((await env.invoke(request(), 30)).payload)
        assert out == {"ppid": 1, "left": {}}  # a zombie left would show as "Z"
    finally:
        await env.destroy("test over")


async def test_python_context_and_client_context(start_env: Any) -> None:
    env = await start_env({"app.py": CONTEXT}, memory_mb=256)
    cc = {"client": {"app_title": "t"}, "custom": {"a": 1}, "env": {"platform": "x"}}
    req = request(
        client_context=base64.b64encode(json.dumps(cc).encode()).decode(),
        cognito_identity=json.dumps({"cognitoIdentityId": "id1", "cognitoIdentityPoolId": "p1"}),
    )
    out = json.loads((await env.invoke(req, 30)).payload)
    assert out["function_name"] == "fn" and out["function_version"] == "$LATEST"
    assert out["arn"] == req.invoked_function_arn
    assert out["memory"] == "256"
    assert out["request_id"] == req.request_id
    assert out["group"] == "/aws/lambda/fn" and out["stream"].startswith("2024/01/01")
    assert 20_000 < out["remaining"] <= 30_000
    assert (out["client"], out["custom"], out["cc_env"]) == ("t", {"a": 1}, {"platform": "x"})
    assert out["identity"] == ["id1", "p1"]
    assert out["trace"] == req.trace_id
    env_vars = out["env"]
    assert env_vars["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env_vars["_HANDLER"] == "app.handler"
    assert env_vars["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env_vars["TZ"] == ":UTC" and env_vars["AWS_REGION"] == "us-east-1"
    assert env_vars["AWS_ACCESS_KEY_ID"] == "AKID"
    # AWS's /var/runtime, or the host dir seen as it on a backend that cannot remap paths.
    assert env_vars["PYTHONPATH"] in ("/var/runtime", str(BOOTSTRAP_DIR))
    assert env_vars["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"


PRIVATE = """
import gc, http.client, os, subprocess, sys
LINKS = '''
import os
def links():
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            out.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # listdir's own fd
            pass
    return out
'''
exec(LINKS)
def handler(event, context):
    mine = links()
    child = subprocess.run(
        [sys.executable, "-c", LINKS + "print(*links())"],
        capture_output=True, text=True, check=True, close_fds=False,
    ).stdout.split()
    host, _, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rpartition(":")
    api = http.client.HTTPConnection(host, int(port), timeout=5)
    api.request("GET", "/2018-06-01/runtime/nope")
    return {
        "hidden": [k for k in os.environ if "LAMBDAD" in k],
        "inherited_sockets": [f for f in child if f.startswith("socket:") and f in mine],
        "clients": sorted({type(o).__name__ for o in gc.get_objects()
                           if type(o).__name__ in ("PrivateClient", "RuntimeClient")}),
        "api_status": api.getresponse().status,
    }
"""


async def test_python_private_channel(start_env: Any) -> None:
    """The built-in runtime talks to init privately: the function sees nothing of it, and
    the Runtime API is still served."""
    env = await start_env({"app.py": PRIVATE})
    out = await env.invoke(request(), 30)
    assert out.function_error is None, out.payload
    assert json.loads(out.payload) == {
        "hidden": [],
        "inherited_sockets": [],
        "clients": ["PrivateClient"],
        "api_status": 404,
    }


async def test_python_response_too_large(start_env: Any) -> None:
    env = await start_env({"app.py": "def handler(e, c):\n    return 'x' * 7_000_000\n"})
    req = request()
    out = await env.invoke(req, 30)
    assert out.function_error == "Unhandled"
    assert out.error_type == "Function.ResponseSizeTooLarge"
    assert json.loads(out.payload)["errorMessage"] == (
        "Response payload size (7000002 bytes) exceeded maximum allowed payload size "
        "(6291556 bytes)."
    )
    assert (await env.invoke(request(), 30)).function_error == "Unhandled"


async def test_python_handler_raises(start_env: Any) -> None:
    env = await start_env({"app.py": "def handler(e, c):\n    return 1 / 0\n"})
    req = request()
    out = await env.invoke(req, 30)
    assert out.function_error == "Unhandled" and out.error_type == "ZeroDivisionError"
    body = json.loads(out.payload)
    assert body["errorType"] == "ZeroDivisionError"
    assert body["errorMessage"] == "division by zero"
    assert body["requestId"] == req.request_id
    assert "app.py" in body["stackTrace"][0] and "1 / 0" in body["stackTrace"][0]
    assert b"[ERROR] ZeroDivisionError: division by zero" in out.logs
    assert out.reusable
    # The environment keeps serving after a handled failure.
    assert (await env.invoke(request(), 30)).error_type == "ZeroDivisionError"


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {"app.py": "x = 1\n"},
            "nope.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'nope': No module named 'nope'",
        ),
        (
            {"app.py": "x = 1\n"},
            "app.handler",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'app'",
        ),
        (
            {"app.py": "def handler(:\n"},
            "app.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app'",
        ),
        ({"app.py": "x = 1\n"}, "app", "Runtime.MalformedHandlerName", "Bad handler 'app'"),
    ],
)
async def test_python_init_errors(
    start_env: Any, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    env = await start_env(files, handler=handler)
    assert env.init_error is not None
    assert env.init_error.error_type == error_type
    assert env.init_error.function_error == "Unhandled" and not env.init_error.reusable
    body = json.loads(env.init_error.payload)
    assert body["errorType"] == error_type and body["errorMessage"].startswith(message)
    assert error_type.encode() in env.init_logs
    # The first invocation reports the init error.
    assert (await env.invoke(request(), 30)).error_type == error_type


async def test_timeout(start_env: Any) -> None:
    env = await start_env({"app.py": "def handler(e, c):\n    while True:\n        pass\n"})
    req = request()
    out = await env.invoke(req, 1.0)
    assert out.error_type == "Sandbox.Timedout" and out.function_error == "Unhandled"
    assert json.loads(out.payload) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {req.request_id} Error: Task timed out after 1.00 seconds",
    }
    assert not out.reusable and not env.is_alive()
    # Ended at the timeout, not at the test's end; a loaded host may take a while to kill.
    assert 1000 <= out.duration_ms < 10_000


@pytest.mark.parametrize(
    ("code", "reason"),
    [("os._exit(3)", "exit status 3"), ("os.kill(os.getpid(), 9)", "signal: killed")],
)
async def test_runtime_exit(start_env: Any, code: str, reason: str) -> None:
    env = await start_env(
        {"app.py": f"import os\ndef handler(e, c):\n    print('bye')\n    {code}\n"}
    )
    req = request()
    out = await env.invoke(req, 30)
    assert out.error_type == "Runtime.ExitError" and not out.reusable
    assert json.loads(out.payload)["errorMessage"] == (
        f"RequestId: {req.request_id} Error: Runtime exited with error: {reason}"
    )
    assert b"bye" in out.logs


async def test_payload_5mb_roundtrip(start_env: Any) -> None:
    env = await start_env({"app.py": "def handler(e, c):\n    return e\n"})
    blob = "0123456789abcdef" * (5 * 1024 * 1024 // 16) + "é\u2603"
    out = await env.invoke(request({"blob": blob}), 30)
    assert out.function_error is None
    assert json.loads(out.payload) == {"blob": blob}


async def test_bytes_response_exact(start_env: Any) -> None:
    env = await start_env({"app.py": "def handler(e, c):\n    return bytes(range(256)) * 4\n"})
    out = await env.invoke(request(), 30)
    assert out.payload == bytes(range(256)) * 4


async def test_freeze_then_invoke(start_env: Any) -> None:
    env = await start_env({"app.py": HELLO})
    await env.freeze()
    out = await env.invoke(request(), 30)
    assert json.loads(out.payload)["count"] == 1


async def test_nearest_runtime_notice_and_strict(start_env: Any) -> None:
    env = await start_env({"app.py": HELLO}, runtime="python3.99")
    assert env.init_error is None
    assert b"runtime python3.99 is not installed" in env.init_logs
    strict = await start_env({"app.py": HELLO}, runtime="python3.99", strict_runtime=True)
    assert strict.init_error is not None
    assert strict.init_error.error_type == "Runtime.InvalidRuntime"


NODE_ASYNC = """
let n = 0;
exports.handler = async (event, context) => {
  n += 1;
  console.log("hello", n);
  return { n, event, fn: context.functionName, id: context.awsRequestId };
};
"""
NODE_CALLBACK = """
export const handler = (event, context, callback) => {
  setTimeout(() => callback(null, { cb: true, left: context.getRemainingTimeInMillis() > 0 }), 5);
};
"""
NODE_THROW = "exports.handler = async () => { throw new TypeError('bad thing'); };\n"

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


@needs_node
async def test_node_async_handler(start_env: Any) -> None:
    env = await start_env({"index.js": NODE_ASYNC}, runtime="nodejs20.x", handler="index.handler")
    assert env.init_error is None, env.init_error
    await env.invoke(request(), 30)
    req = request({"a": 1})
    out = await env.invoke(req, 30)
    assert json.loads(out.payload) == {"n": 2, "event": {"a": 1}, "fn": "fn", "id": req.request_id}
    assert f"\t{req.request_id}\tINFO\thello 2".encode() in out.logs


@needs_node
async def test_node_callback_esm_handler(start_env: Any) -> None:
    env = await start_env(
        {"index.mjs": NODE_CALLBACK}, runtime="nodejs20.x", handler="index.handler"
    )
    out = await env.invoke(request(), 30)
    assert json.loads(out.payload) == {"cb": True, "left": True}


@needs_node
async def test_node_errors(start_env: Any) -> None:
    env = await start_env({"index.js": NODE_THROW}, runtime="nodejs20.x", handler="index.handler")
    out = await env.invoke(request(), 30)
    body = json.loads(out.payload)
    assert out.function_error == "Unhandled" and body["errorType"] == "TypeError"
    assert body["errorMessage"] == "bad thing" and body["trace"][0] == "TypeError: bad thing"
    missing = await start_env(
        {"index.js": NODE_THROW}, runtime="nodejs20.x", handler="nope.handler"
    )
    assert missing.init_error is not None
    assert missing.init_error.error_type == "Runtime.ImportModuleError"


SH_BOOTSTRAP = r"""#!/bin/bash
# A custom runtime written from the Runtime API docs, with bash's /dev/tcp (no curl needed).
set -u
HOST=${AWS_LAMBDA_RUNTIME_API%:*}
PORT=${AWS_LAMBDA_RUNTIME_API#*:}
http() {  # method path body -> sets HEADERS and BODY
  exec 3<>/dev/tcp/$HOST/$PORT
  printf '%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' \
    "$1" "/2018-06-01/runtime/$2" "${#3}" "$3" >&3
  RESP=$(cat <&3)
  exec 3<&-
  HEADERS=${RESP%%$'\r\n\r\n'*}
  BODY=${RESP#*$'\r\n\r\n'}
}
echo "init from bash"
while true; do
  http GET invocation/next ""
  ID=$(printf '%s\n' "$HEADERS" | tr -d '\r' | sed -n 's/^Lambda-Runtime-Aws-Request-Id: //Ip')
  echo "got $ID"
  http POST "invocation/$ID/response" "{\"echo\": $BODY, \"handler\": \"$_HANDLER\"}"
done
"""


async def test_provided_bash_bootstrap(start_env: Any) -> None:
    env = await start_env({"bootstrap": SH_BOOTSTRAP}, runtime="provided.al2023", handler="x.y")
    assert env.init_error is None, env.init_error
    assert b"init from bash" in env.init_logs
    req = request({"q": 1})
    out = await env.invoke(req, 30)
    assert json.loads(out.payload) == {"echo": {"q": 1}, "handler": "x.y"}
    assert f"got {req.request_id}".encode() in out.logs


async def test_provided_missing_bootstrap(start_env: Any) -> None:
    env = await start_env({"app.py": "x=1\n"}, runtime="provided.al2")
    assert env.init_error is not None
    assert env.init_error.error_type == "Runtime.InvalidEntrypoint"


async def test_out_of_memory(tmp_path: Any, bwrap_backend: Any) -> None:
    code = "def handler(e, c):\n    b = bytearray(1024 ** 3)\n    return len(b)\n"
    spec = make_spec(tmp_path, {"app.py": code}, memory_mb=128)
    env = await ExecutionEnvironment.start(spec, bwrap_backend)
    try:
        out = await env.invoke(request(), 30)
        assert out.error_type == "Runtime.OutOfMemory" and not out.reusable
        assert (
            "Runtime exited with error: signal: killed" in json.loads(out.payload)["errorMessage"]
        )
    finally:
        await env.destroy("test over")


@pytest.fixture(scope="session")
def awslambdaric_dir(tmp_path_factory: pytest.TempPathFactory) -> Any:
    import subprocess
    import sys

    target = tmp_path_factory.mktemp("ric")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(target), "awslambdaric"],
        capture_output=True,
        timeout=300,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot install awslambdaric: {proc.stderr.decode()[-300:]}")
    return target


async def test_awslambdaric_bootstrap(start_env: Any, awslambdaric_dir: Any) -> None:
    files: dict[str, str | bytes] = {
        "bootstrap": '#!/bin/sh\nexec python3 -m awslambdaric "$_HANDLER"\n',
        "handler.py": "def fn(e, ctx):\n    return {'ric': e, 'id': ctx.aws_request_id}\n",
    }
    for path in awslambdaric_dir.rglob("*"):
        if path.is_file():
            files[str(path.relative_to(awslambdaric_dir))] = path.read_bytes()
    env = await start_env(files, runtime="provided.al2023", handler="handler.fn")
    assert env.init_error is None, (env.init_error, env.init_logs)
    req = request({"x": 1})
    out = await env.invoke(req, 30)
    assert json.loads(out.payload) == {"ric": {"x": 1}, "id": req.request_id}
    err = await start_env(files, runtime="provided.al2023", handler="handler.nope")
    out = await err.invoke(request(), 10) if err.init_error is None else err.init_error
    assert out.function_error == "Unhandled"
