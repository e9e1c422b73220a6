"""Time to first byte of a streamed response beside the buffered one, same function.

    .venv/bin/python bench/streaming.py [--n 20]

Starts a `lambdad server` with a fresh data dir and deploys a nodejs20.x function
that writes five words, 50 ms apart (a stand-in for a model producing tokens),
with `awslambda.streamifyResponse`. Then, n sequential warm requests each way:

- Invoke (buffered): the whole response arrives once the function returns;
- InvokeWithResponseStream: the event stream, first byte = the first PayloadChunk;
- a RESPONSE_STREAM function URL (path-based), read with httpx's streaming API.

Time to first byte is measured from the request until the first body bytes reach
the client; "total" until the last. Writes its section of bench/RESULTS.md
between markers (run after `bench/run.py`).
"""

from __future__ import annotations

import argparse
import io
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
from harness import LambdadServer, auth_for
from measure import Latency, section_text, write_section
from run import lambda_client

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- streaming:start -->", "<!-- streaming:end -->"
NAME = "bench-stream"
SOURCE = """
export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.setContentType("text/plain");
  for (const word of ["one ", "two ", "three ", "four ", "five"]) {
    responseStream.write(word);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  responseStream.end();
});
"""


def package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.mjs", SOURCE)
    return buffer.getvalue()


def deploy(lam: Any) -> str:
    lam.create_function(
        FunctionName=NAME,
        Runtime="nodejs20.x",
        Role="arn:aws:iam::000000000000:role/bench",
        Handler="index.handler",
        Code={"ZipFile": package()},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=NAME)
    url: str = lam.create_function_url_config(
        FunctionName=NAME, AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )["FunctionUrl"]
    for sid, action, extra in (
        ("url", "lambda:InvokeFunctionUrl", {"FunctionUrlAuthType": "NONE"}),
        ("invoke", "lambda:InvokeFunction", {"InvokedViaFunctionUrl": True}),
    ):
        lam.add_permission(
            FunctionName=NAME, StatementId=sid, Action=action, Principal="*", **extra
        )
    return url.split("//", 1)[1].split(".", 1)[0]


def first_and_total(http: httpx.Client, method: str, path: str) -> tuple[float, float]:
    """(ms to the first body bytes, ms to the last) of one request."""
    started = time.perf_counter()
    first = None
    with http.stream(method, path, content=b"{}" if method == "POST" else None) as response:
        response.raise_for_status()
        for _ in response.iter_raw():
            if first is None:
                first = time.perf_counter()
    done = time.perf_counter()
    assert first is not None, "no body"
    return (first - started) * 1000, (done - started) * 1000


def measure(n: int) -> dict[str, tuple[Latency, Latency]]:
    with LambdadServer() as server:
        url_id = deploy(lambda_client(server.url))
        ways = {
            "Invoke (buffered)": ("POST", f"/2015-03-31/functions/{NAME}/invocations"),
            "InvokeWithResponseStream": (
                "POST",
                f"/2021-11-15/functions/{NAME}/response-streaming-invocations",
            ),
            "function URL, RESPONSE_STREAM": ("GET", f"/lambda-url/{url_id}/"),
        }
        results = {}
        with httpx.Client(base_url=server.url, auth=auth_for(server.url), timeout=60) as http:
            for label, (method, path) in ways.items():
                for _ in range(3):  # warm: environment, connection
                    first_and_total(http, method, path)
                samples = [first_and_total(http, method, path) for _ in range(n)]
                results[label] = (
                    Latency.of([s[0] for s in samples]),
                    Latency.of([s[1] for s in samples]),
                )
        print(f"sandbox backend: {server.sandbox_backend()}")
    return results


def render(command: str, results: dict[str, tuple[Latency, Latency]]) -> str:
    rows = [
        "| sequential warm requests | n | first byte p50 ms | first byte p99 ms "
        "| total p50 ms | total p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows += [
        f"| {k} | {first.n} | {first.p50:.1f} | {first.p99:.1f} | {total.p50:.1f} "
        f"| {total.p99:.1f} |"
        for k, (first, total) in results.items()
    ]
    heading = "Response streaming (nodejs20.x, five writes 50 ms apart, warm)"
    return section_text(START, END, heading, command, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20)
    args = parser.parse_args()
    section = render(f"python bench/streaming.py --n {args.n}", measure(args.n))
    print(section)
    write_section(RESULTS, START, END, section)
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
