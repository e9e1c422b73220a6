"""A burst beyond the warm environments: queueing for a busy one vs scaling out.

    .venv/bin/python bench/queueing.py [--rounds 10] [--burst 16] [--warm 4]

Two `lambdad server`s, one queueing (the default, `LAMBDAD_QUEUE_WAIT_MAX_S=1`)
and one scaling out as AWS does (`LAMBDAD_QUEUE_WAIT_MAX_S=0`), each with a
python3.12 function whose handler takes 5 ms. Rounds alternate between the two
servers, so both see the same host load. Each round:

1. a new function (no environment, nothing learnt about it; the last round's
   is deleted);
2. `--warm` concurrent invocations that hold their environment 300 ms: that
   many warm environments;
3. steady traffic at that concurrency (25 invocations per client, 5 ms each):
   what the pool learns invocations take;
4. the burst: `--burst` clients released at once, one 5 ms invocation each.

Per server: cold starts in the bursts (a handler's first call in its
environment), the bursts' client-observed latency (p50, p99, max) and the time
until a whole burst is answered. Writes its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from harness import API, LambdadServer
from measure import keepalive_client, pct, section_text, write_section
from provisioned import deploy_python
from run import lambda_client

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- queueing:start -->", "<!-- queueing:end -->"
NAME = "bench-queueing"
SOURCE = (
    "import time, uuid\n"
    "ENV = uuid.uuid4().hex\n"
    "calls = 0\n"
    "def handler(event, context):\n"
    "    global calls\n"
    "    calls += 1\n"
    "    time.sleep(event.get('sleep', 0.005))\n"
    "    return {'env': ENV, 'first': calls == 1}\n"
)
STEADY_PER_CLIENT = 25


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    burst_walls: list[float] = field(default_factory=list)
    cold_starts: list[int] = field(default_factory=list)
    warm_envs: list[int] = field(default_factory=list)
    errors: int = 0


def invoke(client: httpx.Client, name: str, sleep: float) -> dict[str, object]:
    response = client.post(f"{API}/{name}/invocations", content=json.dumps({"sleep": sleep}))
    if response.status_code != 200 or "x-amz-function-error" in response.headers:
        raise RuntimeError(f"invoke failed: {response.status_code} {response.text[:200]}")
    result: dict[str, object] = response.json()
    return result


def together(clients: list[httpx.Client], work: object) -> list[object]:
    """Run `work(client)` in one thread per client, all released at once."""
    barrier = threading.Barrier(len(clients))
    out: list[object] = [None] * len(clients)

    def run(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            out[i] = work(clients[i])  # type: ignore[operator]
        except Exception as exc:
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return out


def one_round(server: LambdadServer, clients: list[httpx.Client], warm: int, r: int) -> Tally:
    tally = Tally()
    lam = lambda_client(server.url)
    name = f"{NAME}-{r}"
    if r:
        lam.delete_function(FunctionName=f"{NAME}-{r - 1}")  # its environments go
    deploy_python(lam, name, SOURCE, Timeout=30)
    warmed = together(clients[:warm], lambda c: invoke(c, name, 0.3))
    envs = {w["env"] for w in warmed if isinstance(w, dict)}
    tally.warm_envs.append(len(envs))
    together(clients[:warm], lambda c: [invoke(c, name, 0.005) for _ in range(STEADY_PER_CLIENT)])

    def timed(client: httpx.Client) -> tuple[float, dict[str, object]]:
        started = time.perf_counter()
        body = invoke(client, name, 0.005)
        return (time.perf_counter() - started) * 1000, body

    began = time.perf_counter()
    burst = together(clients, timed)
    tally.burst_walls.append((time.perf_counter() - began) * 1000)
    cold = 0
    for outcome in burst:
        if not isinstance(outcome, tuple):
            tally.errors += 1
            print(f"error: {outcome}")
            continue
        ms, body = outcome
        tally.latencies.append(ms)
        cold += bool(body["first"])
    tally.cold_starts.append(cold)
    return tally


def measure(rounds: int, burst: int, warm: int) -> dict[str, Tally]:
    configs = {"queueing (default)": "1", "scale out (queue wait 0)": "0"}
    tallies = {kind: Tally() for kind in configs}
    servers: dict[str, LambdadServer] = {}
    saved = os.environ.get("LAMBDAD_QUEUE_WAIT_MAX_S")
    try:
        for kind, wait in configs.items():
            os.environ["LAMBDAD_QUEUE_WAIT_MAX_S"] = wait
            servers[kind] = LambdadServer().__enter__()
        clients = {
            kind: [keepalive_client(s.url) for _ in range(burst)] for kind, s in servers.items()
        }
        for r in range(rounds):
            for kind, server in servers.items():
                got = one_round(server, clients[kind], warm, r)
                total = tallies[kind]
                total.latencies += got.latencies
                total.burst_walls += got.burst_walls
                total.cold_starts += got.cold_starts
                total.warm_envs += got.warm_envs
                total.errors += got.errors
                print(f"round {r} {kind}: cold {got.cold_starts} wall {got.burst_walls[0]:.0f} ms")
        print(f"sandbox backend: {next(iter(servers.values())).sandbox_backend()}")
    finally:
        for server in servers.values():
            server.__exit__(None, None, None)
        if saved is None:
            os.environ.pop("LAMBDAD_QUEUE_WAIT_MAX_S", None)
        else:
            os.environ["LAMBDAD_QUEUE_WAIT_MAX_S"] = saved
    return tallies


POLICY = """\
The policy (`src/lambdad/pool/queueing.py`): an invoke that finds no idle environment
of its version waits in line for a busy one when the wait it expects is shorter than
a cold start. Both come from what the pool saw lately, per function: an EWMA of how
long invocations keep an environment busy, and one of how long its cold starts took.
The k-th waiter expects the k-th release of the busy environments (first come, first
served; a release goes straight to the head of the line, with no freeze and thaw). It
waits at most as long as a cold start would take, `LAMBDAD_QUEUE_WAIT_MAX_S` (1 s) and
the function's timeout, then cold-starts: at worst about twice a cold start, never
stranded. Nothing learnt yet (a function's first burst), or a nested invocation of the
function in its own chain (its busy environments may be waiting for it): it scales
out as AWS does. Why not AWS's scale-out: on one box a burst's cold starts share the
cores the warm environments need, so a crowd of them is slower for everyone than a
few milliseconds in line; a slow function (an invocation longer than a cold start)
still scales out. Why not a cold start beside each wait, taking the first: those spare
starts are the crowd. Waiting invokes count against concurrency limits as running
ones do. Both policies ran the same rounds alternately, under the same host load.
"""


NOTES = (
    "Cold starts: handlers' first calls in their environment among the burst's "
    "invokes. Errors: the burst's invokes that failed (on a loaded host, cold starts "
    "in a crowd pass the 10 s Init limit). Warm envs before: the environments the "
    "warm-up's concurrent invokes ran in; fewer than asked when the warm-up itself "
    "waited in line (a 300 ms invocation beat a cold start that took seconds)."
)


def render(
    command: str, rounds: int, burst: int, warm: int, tallies: dict[str, Tally], host: str
) -> str:
    rows = [
        *POLICY.splitlines(),
        "",
        "| policy | cold starts per burst (mean, max) | burst p50 ms | p99 ms | max ms "
        "| whole burst p50 ms | warm envs before | errors |",
        "|---|---|---:|---:|---:|---:|---|---:|",
    ]
    for kind, t in tallies.items():
        mean = sum(t.cold_starts) / max(1, len(t.cold_starts))
        rows.append(
            f"| {kind} | {mean:.1f}, {max(t.cold_starts, default=0)} "
            f"| {pct(t.latencies, 0.5):.1f} | {pct(t.latencies, 0.99):.1f} "
            f"| {max(t.latencies, default=float('nan')):.1f} | {pct(t.burst_walls, 0.5):.1f} "
            f"| {sorted(set(t.warm_envs))} | {t.errors} |"
        )
    rows += ["", NOTES, "", host]
    heading = (
        f"Queueing: a burst of {burst} concurrent invokes with {warm} warm environments "
        f"(5 ms handler, {rounds} rounds per policy, rounds alternating)"
    )
    return section_text(START, END, heading, command, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--burst", type=int, default=16)
    parser.add_argument("--warm", type=int, default=4)
    args = parser.parse_args()
    before = os.getloadavg()
    tallies = measure(args.rounds, args.burst, args.warm)
    after = os.getloadavg()
    command = (
        f"python bench/queueing.py --rounds {args.rounds} --burst {args.burst} --warm {args.warm}"
    )
    host = (
        f"Host: {os.cpu_count()} cores, load average {before[0]:.1f} before, {after[0]:.1f} after."
    )
    section = render(command, args.rounds, args.burst, args.warm, tallies, host)
    print(section)
    write_section(RESULTS, START, END, section)
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
