"""What the event bus adds to an asynchronous invocation: PutEvents beside Invoke (Event).

    .venv/bin/python bench/event_bus.py [--n 200]

Starts a `lambdad server` with a fresh data dir, deploys a python3.12 hello
function, and sends n sequential boto3 requests each way (client-observed
latency, until the server has durably accepted the event):

- Invoke with InvocationType=Event: one row on the async queue;
- PutEvents, 1 entry, one rule on the bus matching it with one target: the
  entry checked, the bus's rules loaded and matched, one row on the queue;
- PutEvents, 10 entries, against 100 rules on the bus of which one matches
  each entry: the matching cost of a full request.

Every accepted event then runs the function (the queue drains in the
background while the rows are measured, for every row alike). Writes its
section of bench/RESULTS.md between markers (run after `bench/run.py`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness import LambdadServer
from measure import Latency, section_text, timed, write_section
from run import deploy, lambda_client

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- event-bus:start -->", "<!-- event-bus:end -->"
NAME = "bench-events"
ARN = f"arn:aws:lambda:us-east-1:000000000000:function:{NAME}"


def rules(events: Any, bus: str, count: int) -> None:
    """`count` rules on `bus`, each matching the entries of one source."""
    events.create_event_bus(Name=bus)
    for i in range(count):
        pattern = {"source": [f"bench.{i}"], "detail": {"n": [{"numeric": [">=", 0]}]}}
        events.put_rule(Name=f"r{i}", EventBusName=bus, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"r{i}", EventBusName=bus, Targets=[{"Id": "t", "Arn": ARN}])


def entries(bus: str, count: int) -> list[dict[str, str]]:
    return [
        {"Source": f"bench.{i}", "DetailType": "t", "Detail": '{"n": 1}', "EventBusName": bus}
        for i in range(count)
    ]


def measure(n: int) -> dict[str, Latency]:
    with LambdadServer() as server:
        lam = lambda_client(server.url)
        events = lambda_client(server.url, service="events")
        deploy(lam, NAME, 128)
        # The event bus may invoke the function (its rules' deliveries check this).
        lam.add_permission(
            FunctionName=NAME,
            StatementId="events",
            Action="lambda:InvokeFunction",
            Principal="events.amazonaws.com",
        )
        rules(events, "one", 1)
        rules(events, "hundred", 100)
        one, ten = entries("one", 1), entries("hundred", 10)

        def invoke() -> None:
            lam.invoke(FunctionName=NAME, InvocationType="Event", Payload=b"{}")

        def put(batch: list[dict[str, str]]) -> None:
            assert events.put_events(Entries=batch)["FailedEntryCount"] == 0

        ways = {
            "Invoke, InvocationType=Event": invoke,
            "PutEvents, 1 entry, 1 rule": lambda: put(one),
            "PutEvents, 10 entries, 100 rules": lambda: put(ten),
        }
        results: dict[str, Latency] = {}
        for label, call in ways.items():
            timed(call, 20)  # warm: connection, caches
            results[label] = Latency.of(timed(call, n))
        print(f"sandbox backend: {server.sandbox_backend()}")
    return results


def render(command: str, results: dict[str, Latency]) -> str:
    rows = ["| sequential boto3 requests | n | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    rows += [f"| {k} | {v.n} | {v.p50:.2f} | {v.p99:.2f} |" for k, v in results.items()]
    heading = "Event bus: PutEvents beside an asynchronous Invoke (accepted, durable)"
    return section_text(START, END, heading, command, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    section = render(f"python bench/event_bus.py --n {args.n}", measure(args.n))
    print(section)
    write_section(RESULTS, START, END, section)
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
