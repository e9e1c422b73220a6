"""How late schedule ticks fire: from a tick's time to its owner's callback.

    .venv/bin/python bench/schedule_lateness.py [--timers 200] [--spread 10]

Runs the ticker loop (events/ticker.py) on a fresh SQLite database with the real
clock, puts `timers` one-time timers due at evenly spaced moments over the next
`spread` seconds, and records, for each, how long after its tick the callback ran
(the claim's compare-and-swap, the fire row, the delivery). The floor is the same
measurement for a bare `anyio.sleep` until the same moments. Writes its section of
bench/RESULTS.md between markers.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import anyio
from measure import Latency, section_text, write_section

from lambdad.events import Fire, Ticker, TimerSpec
from lambdad.store import TimerStore, create_engine, migrate

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- scheduler:start -->", "<!-- scheduler:end -->"


async def ticker_lateness(timers: int, spread: float) -> list[float]:
    late: list[float] = []
    done = anyio.Event()
    with tempfile.TemporaryDirectory() as folder:
        engine = create_engine(f"sqlite:///{folder}/bench.db")
        migrate(engine)
        ticker = Ticker(TimerStore(engine))

        async def record(fire: Fire) -> None:
            late.append((time.time() - fire.tick_at) * 1000)
            if len(late) == timers:
                done.set()

        ticker.on_fire("bench", record)
        first = time.time() + 2.0 + 0.05 * timers  # room for the puts on a busy box
        for n in range(timers):  # all put before the first is due
            at = first + spread * n / timers
            await ticker.put("bench", f"t{n}", TimerSpec("rate(1 day)", start_at=at))
        async with anyio.create_task_group() as group:
            group.start_soon(ticker.run)
            with anyio.fail_after(spread + 60):
                await done.wait()
            group.cancel_scope.cancel()
        engine.dispose()
    return late


async def sleep_lateness(timers: int, spread: float) -> list[float]:
    first = time.time() + 1.0
    late: list[float] = []
    for n in range(timers):
        at = first + spread * n / timers
        await anyio.sleep(max(0.0, at - time.time()))
        late.append((time.time() - at) * 1000)
    return late


def render(command: str, results: dict[str, list[float]]) -> str:
    rows = ["| from a tick's time to | n | p50 ms | p99 ms | max ms |", "|---|---:|---:|---:|---:|"]
    for label, values in results.items():
        lat = Latency.of(values)
        rows.append(f"| {label} | {lat.n} | {lat.p50:.1f} | {lat.p99:.1f} | {max(values):.1f} |")
    return section_text(START, END, "Schedule ticks: how late they fire", command, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timers", type=int, default=200)
    parser.add_argument("--spread", type=float, default=10.0)
    args = parser.parse_args()
    results = {
        "its callback (ticker loop, SQLite)": anyio.run(ticker_lateness, args.timers, args.spread),
        "the end of an anyio.sleep (floor)": anyio.run(sleep_lateness, args.timers, args.spread),
    }
    command = f"python bench/schedule_lateness.py --timers {args.timers} --spread {args.spread:g}"
    section = render(command, results)
    print(section)
    write_section(RESULTS, START, END, section)
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
