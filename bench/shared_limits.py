"""What the account-wide counts shared by several server processes cost per invoke.

Three numbers, each the best of `--reps` runs of `-n` operations, in µs of wall
time per operation (one process, uncontended, except the last):

- `counters`: `SharedCounters.try_take` + `give_back` of the total and the
  unreserved count together, as an unreserved function's invoke does.
- `limiter`: `ConcurrencyLimiter.admit` + `release` of an unreserved function,
  without a backend (one process: today's) and with one (`--workers N`), plus
  the two reads of the account-wide sums the invoker's metrics make.
- `contended`: the counters' pair while `--procs` other processes hammer the
  same file (the lock's price when every process takes at once).

    .venv/bin/python bench/shared_limits.py [-n 200000] [--reps 5] [--procs 1]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from lambdad.invoke import ConcurrencyLimiter
from lambdad.workers import SharedCounters

REGION = "us-east-1"
HAMMER = """
import sys
from lambdad.workers import SharedCounters, SharedCountersHandle
counters = SharedCounters.open(SharedCountersHandle.from_arg(sys.argv[1]))
total = counters.counter("us-east-1", "total")
unreserved = counters.counter("us-east-1", "unreserved")
print("ready", flush=True)
while True:
    if counters.try_take(total, 1_000_000, (unreserved, 1_000_000)):
        counters.give_back(total, unreserved)
"""


def best_us(reps: int, n: int, run: Callable[[int], None]) -> float:
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        run(n)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def counters_pair(counters: SharedCounters) -> Callable[[int], None]:
    total = counters.counter(REGION, "total")
    unreserved = counters.counter(REGION, "unreserved")

    def run(n: int) -> None:
        for _ in range(n):
            counters.try_take(total, 1_000_000, (unreserved, 1_000_000))
            counters.give_back(total, unreserved)

    return run


def limiter_pair(limiter: ConcurrencyLimiter) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            admission = limiter.admit("f", None)
            _ = limiter.total, limiter.unreserved_in_flight  # what the metrics read
            limiter.release(admission)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--procs", type=int, default=1, help="other processes when contended")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        counters = SharedCounters.create(Path(tmp), slots=args.procs + 1)
        try:
            n, reps = args.n, args.reps
            print(f"counters take+give_back: {best_us(reps, n, counters_pair(counters)):.2f} µs")
            plain = ConcurrencyLimiter(1_000_000)
            shared = ConcurrencyLimiter(1_000_000, shared=counters.account(REGION))
            for what, limiter in (("no backend", plain), ("shared", shared)):
                pair = best_us(reps, n, limiter_pair(limiter))
                print(f"limiter admit+release, {what}: {pair:.2f} µs")
            others = [
                subprocess.Popen(
                    [sys.executable, "-c", HAMMER, counters.handle(slot).to_arg()],
                    stdout=subprocess.PIPE,
                )
                for slot in range(1, args.procs + 1)
            ]
            try:
                for other in others:
                    assert other.stdout is not None and other.stdout.readline() == b"ready\n"
                pair = best_us(reps, n // 4, counters_pair(counters))
                print(f"counters take+give_back, {args.procs} other(s) hammering: {pair:.2f} µs")
            finally:
                for other in others:
                    other.kill()
                    other.wait()
        finally:
            counters.close()


if __name__ == "__main__":
    main()
