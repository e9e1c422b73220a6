"""What authentication costs a request: SigV4 signing in the client and its
check in the server (key lookup, secret unsealed, signature recomputed).

    .venv/bin/python bench/auth.py [--n 500]

Starts two `lambdad server`s with fresh data dirs, one with authentication on
(the default) and one with `--auth off`, and sends each n sequential keep-alive
ListFunctions requests (no function environment involved: the difference is
the authentication). Also times the client's signing alone. Writes its section
of bench/RESULTS.md between markers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import httpx
from harness import API, LambdadServer, auth_for
from measure import Latency, section_text, timed, write_section

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- authn:start -->", "<!-- authn:end -->"


def list_functions_latency(server: LambdadServer, auth: httpx.Auth | None, n: int) -> Latency:
    with httpx.Client(base_url=server.url, timeout=60, auth=auth) as http:

        def one() -> None:
            http.get(API).raise_for_status()

        timed(one, 50)  # warm: connection, database pool
        return Latency.of(timed(one, n))


def signing_latency(server: LambdadServer, n: int) -> Latency:
    auth = auth_for(server.url)
    assert auth is not None
    request = httpx.Request("GET", server.url + API)
    return Latency.of(timed(lambda: next(auth.auth_flow(request)), n))


def measure(n: int) -> dict[str, Latency]:
    results: dict[str, Latency] = {}
    with LambdadServer(("--auth", "off")) as server:
        results["ListFunctions, --auth off (unsigned)"] = list_functions_latency(server, None, n)
    with LambdadServer() as server:
        signed = list_functions_latency(server, auth_for(server.url), n)
        results["ListFunctions, authentication on (signed by the client)"] = signed
        results["the client's SigV4 signing alone"] = signing_latency(server, n)
    return results


def render(command: str, results: dict[str, Latency]) -> str:
    rows = ["| sequential keep-alive requests | n | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    rows += [f"| {k} | {v.n} | {v.p50:.2f} | {v.p99:.2f} |" for k, v in results.items()]
    return section_text(START, END, "Authentication (SigV4) per request", command, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=500)
    args = parser.parse_args()
    section = render(f"python bench/auth.py --n {args.n}", measure(args.n))
    print(section)
    write_section(RESULTS, START, END, section)
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
