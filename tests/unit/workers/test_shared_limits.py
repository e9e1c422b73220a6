"""SharedCounters: exact account-wide counts over several real processes."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdad.workers import SharedCounters, SharedCountersError, SharedCountersHandle
from lambdad.workers.shared_limits import NAME_BYTES, PREFIX, REGIONS
from support.processes import stop_process

Worker = subprocess.Popen[bytes]

STEP_TIMEOUT_S = 60.0


@pytest.fixture
def counters(tmp_path: Path) -> Iterator[SharedCounters]:
    made = SharedCounters.create(tmp_path, slots=4)
    yield made
    made.close()


def test_the_file_is_private_bounded_unguessable_and_gone_on_close(tmp_path: Path) -> None:
    counters = SharedCounters.create(tmp_path / "data", slots=3)
    path = counters.path
    info = path.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_size < 16_384
    assert path.name.startswith(PREFIX) and len(path.name) == len(PREFIX) + 32
    assert SharedCounters.create(tmp_path / "data", slots=3).path != path  # random names
    counters.close()
    assert not path.exists()


def test_takes_stop_at_the_limit_and_give_backs_free(counters: SharedCounters) -> None:
    total = counters.counter("us-east-1", "total")
    assert [counters.try_take(total, 2) for _ in range(3)] == [True, True, False]
    assert counters.sum(total) == 2
    counters.give_back(total)
    assert counters.try_take(total, 2)
    assert counters.sum(total) == 2


def test_a_secondary_counts_in_the_sum_and_writes_its_slot_only(counters: SharedCounters) -> None:
    secondary = SharedCounters.open(counters.handle(2))
    try:
        mine = counters.counter("eu-west-1", "total")
        theirs = secondary.counter("eu-west-1", "total")
        assert mine == theirs  # the same row in both processes' views
        assert secondary.try_take(theirs, 2)
        assert counters.try_take(mine, 2)
        assert not secondary.try_take(theirs, 2) and not counters.try_take(mine, 2)
        assert counters.held(2) == {("eu-west-1", "total"): 1}
        assert counters.held(0) == {("eu-west-1", "total"): 1}
        with pytest.raises(SharedCountersError):
            secondary.clear_slot(0)
        with pytest.raises(SharedCountersError):
            secondary.handle(1)
    finally:
        secondary.close()
    assert counters.path.exists()  # a secondary's close leaves the file


def test_a_combined_take_takes_all_or_nothing(counters: SharedCounters) -> None:
    total = counters.counter("us-east-1", "total")
    unreserved = counters.counter("us-east-1", "unreserved")
    assert counters.try_take(total, 10, (unreserved, 1))
    assert not counters.try_take(total, 10, (unreserved, 1))
    assert (counters.sum(total), counters.sum(unreserved)) == (1, 1)
    counters.give_back(total, unreserved)
    assert (counters.sum(total), counters.sum(unreserved)) == (0, 0)


def test_regions_count_apart_and_odd_ones_share_the_last_row(counters: SharedCounters) -> None:
    east, west = counters.counter("us-east-1", "total"), counters.counter("us-west-2", "total")
    assert east != west
    assert counters.try_take(east, 1) and counters.try_take(west, 1)
    long_name = "us-" + "x" * NAME_BYTES + "-1"
    assert counters.counter(long_name, "total") == (REGIONS - 1) * 2
    for i in range(REGIONS):  # more regions than rows: the rest share the last
        counters.counter(f"xx-region{i}-1", "total")
    assert counters.counter("xx-region70-1", "total") == (REGIONS - 1) * 2
    assert counters.counter("us-east-1", "total") == east  # still its own


def test_clear_slot_frees_a_dead_share_and_is_the_primarys(counters: SharedCounters) -> None:
    secondary = SharedCounters.open(counters.handle(1))
    total = secondary.counter("us-east-1", "total")
    for _ in range(3):
        assert secondary.try_take(total, 3)
    counters.clear_slot(1)
    assert counters.sum(total) == 0
    secondary.give_back(total)  # a late give back of a cleared share stays at 0
    assert counters.sum(total) == 0
    secondary.close()
    with pytest.raises(ValueError):
        counters.clear_slot(0)


def test_handles_cross_a_command_line_and_bad_ones_are_refused(
    counters: SharedCounters, tmp_path: Path
) -> None:
    handle = counters.handle(3)
    assert SharedCountersHandle.from_arg(handle.to_arg()) == handle
    with pytest.raises(SharedCountersError):
        SharedCountersHandle.from_arg("nonsense")
    with pytest.raises(ValueError):
        counters.handle(4)  # slots 1..3 only
    with pytest.raises(SharedCountersError):
        SharedCounters.open(SharedCountersHandle(str(counters.path), 4))
    with pytest.raises(SharedCountersError):
        SharedCounters.open(SharedCountersHandle(str(tmp_path / "missing"), 1))
    other = tmp_path / "other"
    other.write_bytes(b"\0" * counters.path.stat().st_size)
    other.chmod(0o600)
    with pytest.raises(SharedCountersError):  # not ours: no magic
        SharedCounters.open(SharedCountersHandle(str(other), 1))
    counters.path.chmod(0o644)
    with pytest.raises(SharedCountersError):
        SharedCounters.open(handle)


def test_a_dead_primarys_file_is_removed_by_the_next(tmp_path: Path) -> None:
    script = (
        "import sys, pathlib\n"
        "from lambdad.workers import SharedCounters\n"
        "print(SharedCounters.create(pathlib.Path(sys.argv[1]), 2).path, flush=True)\n"
    )
    left = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=STEP_TIMEOUT_S,
    )
    stale = Path(left.stdout.decode().strip())
    assert stale.exists()  # exited without close
    counters = SharedCounters.create(tmp_path, slots=2)
    assert not stale.exists()
    counters.close()


# A process in slot argv[2] that opens the counters, then, told on stdin:
#   "hammer N LIMIT": N times take one (if under LIMIT) and give it back; around each
#     hold it writes "+" and "-" to stdout (a pipe: each write lands whole, in order)
#   "take K": takes K at a limit of K*100, prints "taken"
#   "lock": holds the file's lock, prints "locked"
# It prints "ready" once it has the counters, then waits for each line; EOF ends it.
WORKER = textwrap.dedent(
    """
    import os, sys
    from lambdad.workers import SharedCounters, SharedCountersHandle
    counters = SharedCounters.open(SharedCountersHandle(sys.argv[1], int(sys.argv[2])))
    total = counters.counter("us-east-1", "total")
    out = sys.stdout.fileno()
    os.write(out, b"ready\\n")
    for line in sys.stdin:
        verb, *args = line.split()
        if verb == "hammer":
            n, limit = int(args[0]), int(args[1])
            for _ in range(n):
                if counters.try_take(total, limit):
                    os.write(out, b"+")
                    os.write(out, b"-")
                    counters.give_back(total)
                else:
                    os.write(out, b"x")
            os.write(out, b"\\n")
        elif verb == "take":
            for _ in range(int(args[0])):
                assert counters.try_take(total, int(args[0]) * 100)
            os.write(out, b"taken\\n")
        elif verb == "lock":
            counters._locked().__enter__()
            os.write(out, b"locked\\n")
    """
)


def _start(counters: SharedCounters, slot: int, stdout: int = subprocess.PIPE) -> Worker:
    handle = counters.handle(slot)
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, handle.path, str(handle.slot)],
        stdin=subprocess.PIPE,
        stdout=stdout,
    )


def _tell(process: Worker, line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line.encode() + b"\n")
    process.stdin.flush()


def _answer(process: Worker) -> bytes:
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    return process.stdout.readline().strip() if line == b"ready" else line


def _kill_after(counters: SharedCounters, slot: int, line: str, answer: bytes) -> None:
    """Start a worker in `slot`, tell it `line`, and kill -9 it once it answers."""
    worker = _start(counters, slot)
    try:
        _tell(worker, line)
        assert _answer(worker) == answer
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=STEP_TIMEOUT_S)
    finally:
        stop_process(worker)


def test_racing_processes_never_hold_more_than_the_limit(counters: SharedCounters) -> None:
    """Three processes and this one take and give back against a limit of 2. Every
    process writes "+" once it holds one and "-" before it gives it back, all into
    one pipe (each write lands whole, in order), so each "+"..."-" lies inside the
    time that process really held one: more "+" than "-" than the limit at any point
    of the stream would be an over-admission."""
    limit, rounds = 2, 20_000
    read_end, write_end = os.pipe()
    workers = [_start(counters, slot, stdout=write_end) for slot in (1, 2, 3)]
    os.close(write_end)
    stream = bytearray()
    try:
        with os.fdopen(read_end, "rb") as events:
            # All ready before any starts, so that they race rather than take turns.
            while stream.count(b"ready\n") < len(workers):
                chunk = events.read1(65536)
                assert chunk, "a worker died"
                stream += chunk
            del stream[:]
            for worker in workers:
                _tell(worker, f"hammer {rounds} {limit}")
            while stream.count(b"\n") < len(workers):
                chunk = events.read1(65536)
                assert chunk, "a worker died"
                stream += chunk
    finally:
        for worker in workers:
            stop_process(worker)
    held = most = 0
    for event in stream:
        held += {ord("+"): 1, ord("-"): -1}.get(event, 0)
        most = max(most, held)
    assert most <= limit
    assert held == 0
    assert stream.count(b"+") + stream.count(b"x") == rounds * len(workers)
    assert stream.count(b"+") > 0
    assert counters.sum(counters.counter("us-east-1", "total")) == 0


def test_a_killed_process_keeps_its_share_until_its_slot_is_cleared(
    counters: SharedCounters,
) -> None:
    _kill_after(counters, 2, "take 3", b"taken")
    total = counters.counter("us-east-1", "total")
    assert counters.sum(total) == 3
    assert not counters.try_take(total, 3)  # its share still counts
    counters.clear_slot(2)
    assert counters.sum(total) == 0
    assert counters.try_take(total, 3)


def test_a_process_killed_holding_the_lock_does_not_wedge_the_others(
    counters: SharedCounters,
) -> None:
    _kill_after(counters, 1, "lock", b"locked")
    total = counters.counter("us-east-1", "total")
    assert counters.try_take(total, 1)  # the kernel dropped the dead holder's flock
