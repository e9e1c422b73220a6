"""Warm latency of a function URL beside the Invoke API, on the same function.

    .venv/bin/python bench/function_urls.py [--n 200]

Starts a `lambdad server` with a fresh data dir, deploys a python3.12 hello
function with a public URL (AuthType NONE and the two policy statements AWS
requires), warms it, then sends n sequential keep-alive requests each way:

- Invoke: POST /2015-03-31/functions/NAME/invocations;
- URL, host-based: GET / with the URL's Host (`<id>.lambda-url.<region>.localhost`);
- URL, path-based: GET /lambda-url/<id>/.

The URL rows pay what the Invoke row does not: the URL lookup, the policy check,
building the payload 2.0 event and mapping the response. Writes its section
of bench/RESULTS.md between markers (run after `bench/run.py`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

import harness
import httpx
from harness import LambdadServer
from measure import Latency, section_text, timed, write_section
from provisioned import client, code

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- function-urls:start -->", "<!-- function-urls:end -->"
NAME = "bench-url"


def deploy(lam: object, server: LambdadServer) -> str:
    lam.create_function(  # type: ignore[attr-defined]
        FunctionName=NAME,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/lambda-role",
        Handler="app.handler",
        Code={"ZipFile": code()},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=NAME)  # type: ignore[attr-defined]
    url: str = lam.create_function_url_config(  # type: ignore[attr-defined]
        FunctionName=NAME, AuthType="NONE"
    )["FunctionUrl"]
    for sid, action, extra in (
        ("url", "lambda:InvokeFunctionUrl", {"FunctionUrlAuthType": "NONE"}),
        ("invoke", "lambda:InvokeFunction", {"InvokedViaFunctionUrl": True}),
    ):
        lam.add_permission(  # type: ignore[attr-defined]
            FunctionName=NAME, StatementId=sid, Action=action, Principal="*", **extra
        )
    return url


def measure(n: int) -> dict[str, Latency]:
    with LambdadServer() as server:
        lam = client(server.url)
        url = deploy(lam, server)
        url_id = urlsplit(url).netloc.split(".", 1)[0]
        ways = {
            "Invoke API (POST .../invocations)": (
                {},
                "POST",
                f"/2015-03-31/functions/{NAME}/invocations",
            ),
            "function URL, host-based": ({"host": urlsplit(url).netloc}, "GET", "/"),
            "function URL, path-based": ({}, "GET", f"/lambda-url/{url_id}/"),
        }
        results: dict[str, Latency] = {}
        for label, (headers, method, path) in ways.items():
            # The Invoke API is signed (authentication is on); the URL has AuthType NONE.
            auth = harness.auth_for(server.url) if path.endswith("/invocations") else None
            with httpx.Client(base_url=server.url, headers=headers, timeout=60, auth=auth) as http:

                def one(http: httpx.Client = http, method: str = method, path: str = path) -> None:
                    response = http.request(
                        method, path, content=b"{}" if method == "POST" else None
                    )
                    response.raise_for_status()

                timed(one, 20)  # warm: environment, connection
                results[label] = Latency.of(timed(one, n))
        print(f"sandbox backend: {server.sandbox_backend()}")
    return results


def render(command: str, results: dict[str, Latency]) -> str:
    rows = ["| sequential keep-alive requests | n | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    rows += [f"| {k} | {v.n} | {v.p50:.2f} | {v.p99:.2f} |" for k, v in results.items()]
    return section_text(START, END, "Function URLs (python3.12 hello, warm)", command, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    section = render(f"python bench/function_urls.py --n {args.n}", measure(args.n))
    print(section)
    write_section(RESULTS, START, END, section)
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
