"""The Live Tail relay: a secondary's stored events reach the primary's sessions."""

from __future__ import annotations

import json
import logging
import struct
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from anyio.abc import Process, SocketStream, TaskGroup
from anyio.streams.buffered import BufferedByteReceiveStream

from lambdad.telemetry.events import EventBlock
from lambdad.telemetry.live_tail import LiveTail, StreamFilter, Subscription, TailBlock
from lambdad.workers.live_tail_relay import (
    MAX_FRAME,
    Block,
    LiveTailPublisher,
    LiveTailReceiver,
    Wanted,
)
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio

REGION = "us-east-1"
STEP_TIMEOUT_S = 60.0

# A secondary: a publisher relaying to the socket in argv[1], told on stdin
#   "publish GROUP N TEXT": publishes N one-event blocks of TEXT to GROUP
#   "state": prints what it wants and has sent, as JSON
# and answering each line with one line.
SECONDARY = textwrap.dedent(
    """
    import json, sys
    import anyio
    from lambdad.telemetry.events import EventBlock
    from lambdad.workers.live_tail_relay import LiveTailPublisher

    async def main() -> None:
        publisher = LiveTailPublisher(sys.argv[1])
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(publisher.run)
            async for line in anyio.wrap_file(sys.stdin):
                verb, *args = line.split()
                if verb == "publish":
                    group, n, text = args[0], int(args[1]), args[2].encode()
                    for i in range(n):
                        block = EventBlock(1_000 + i, 1, text)
                        publisher.publish("us-east-1", group, "s", block, 5_000)
                    print("ok", flush=True)
                elif verb == "state":
                    state = {"wanted": sorted(publisher.wanted), "sent": publisher.sent_blocks}
                    print(json.dumps(state), flush=True)
            tasks.cancel_scope.cancel()

    anyio.run(main)
    """
)


class Secondary:
    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdout is not None
        self._lines = BufferedByteReceiveStream(process.stdout)

    async def ask(self, line: str) -> bytes:
        assert self.process.stdin is not None
        await self.process.stdin.send(line.encode() + b"\n")
        with anyio.fail_after(STEP_TIMEOUT_S):
            return await self._lines.receive_until(b"\n", 1 << 20)

    async def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads(await self.ask("state"))
        return state

    async def wanting(self, pairs: list[list[str]]) -> dict[str, Any] | None:
        """Its state once it wants `pairs`."""
        state = await self.state()
        return state if state["wanted"] == pairs else None


@pytest.fixture
async def receiver(tmp_path: Path) -> AsyncIterator[tuple[LiveTail, LiveTailReceiver]]:
    live_tail = LiveTail()
    receiver = LiveTailReceiver(live_tail, tmp_path / "live-tail.sock")
    async with anyio.create_task_group() as tasks:
        await tasks.start(receiver.serve)
        yield live_tail, receiver
        tasks.cancel_scope.cancel()
    assert not (tmp_path / "live-tail.sock").exists()


def _blocks(subscription: Subscription, seen: list[TailBlock], n: int) -> bool:
    seen += subscription.take()[0]
    return len(seen) >= n


async def test_a_secondarys_blocks_reach_a_session_only_while_one_tails_them(
    receiver: tuple[LiveTail, LiveTailReceiver],
) -> None:
    live_tail, relay = receiver
    async with await anyio.open_process([sys.executable, "-c", SECONDARY, relay.path]) as process:
        secondary = Secondary(process)
        try:
            await wait_until_async(lambda: relay.connected, "the secondary to connect")
            assert await secondary.ask("publish g1 5 before") == b"ok"  # no session yet

            subscription = live_tail.open(REGION, ["g1"], StreamFilter())

            async def wants_g1() -> dict[str, Any] | None:
                return await secondary.wanting([[REGION, "g1"]])

            state: dict[str, Any] = await wait_until_async(
                wants_g1, "the secondary to learn of the session"
            )
            assert state["sent"] == 0  # what came before the session was not sent
            assert await secondary.ask("publish g1 3 after") == b"ok"
            assert await secondary.ask("publish g2 4 other") == b"ok"  # not tailed
            seen: list[TailBlock] = []
            await wait_until_async(lambda: _blocks(subscription, seen, 3), "3 blocks")
            assert [(b.group, b.block.messages, b.ingestion_ms) for b in seen] == [
                ("g1", b"after", 5_000)
            ] * 3
            assert (await secondary.state())["sent"] == 3
            assert relay.received_blocks == 3

            live_tail.close(subscription)

            async def wants_nothing() -> dict[str, Any] | None:
                return await secondary.wanting([])

            state = await wait_until_async(wants_nothing, "the secondary to learn it ended")
            assert state["sent"] == 3
            assert await secondary.ask("publish g1 2 late") == b"ok"
            assert (await secondary.state())["sent"] == 3
        finally:
            if process.returncode is None:
                process.kill()


class FakePrimary:
    """A primary that tells what is wanted and then reads only when told to."""

    def __init__(self, path: Path, wanted: list[tuple[str, str]]) -> None:
        self.path = path
        self.wanted = wanted
        self.reading = anyio.Event()
        self.received = 0
        self.streams: list[SocketStream] = []

    async def serve(self, tasks: TaskGroup) -> None:
        listener = await anyio.create_unix_listener(self.path)
        tasks.start_soon(listener.serve, self._one)

    async def _one(self, stream: SocketStream) -> None:
        self.streams.append(stream)
        body = msgspec.msgpack.encode(Wanted(self.wanted))
        await stream.send(struct.pack(">I", len(body)) + body)
        await self.reading.wait()
        reader = BufferedByteReceiveStream(stream)
        with pytest.raises(anyio.EndOfStream):
            while True:
                (length,) = struct.unpack(">I", await reader.receive_exactly(4))
                msgspec.msgpack.decode(await reader.receive_exactly(length), type=Block)
                self.received += 1


async def test_a_slow_primary_makes_blocks_drop_never_the_publisher_wait(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    primary = FakePrimary(tmp_path / "sock", [(REGION, "g")])
    publisher = LiveTailPublisher(primary.path, capacity_bytes=64 << 10)
    block = EventBlock(1, 1, b"x" * (16 << 10))
    async with anyio.create_task_group() as tasks:
        await primary.serve(tasks)
        tasks.start_soon(publisher.run)
        await wait_until_async(lambda: publisher.wanted, "the publisher to connect")
        caplog.set_level(logging.INFO, "lambdad.workers.live_tail_relay")
        published = 0
        with anyio.fail_after(STEP_TIMEOUT_S):
            while publisher.dropped_events < 100:  # the socket's buffers filled, then ours
                publisher.publish(REGION, "g", "s", block, 2)
                published += 1
                assert publisher._queued_bytes <= 64 << 10
                await anyio.lowlevel.checkpoint()  # the sender's turn
        dropping = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(dropping) == 1  # logged once, however many drop
        primary.reading.set()  # the primary catches up: what was queued arrives
        await wait_until_async(
            lambda: primary.received == published - publisher.dropped_blocks, "the queue to drain"
        )
        await wait_until_async(
            lambda: any("relaying again" in r.getMessage() for r in caplog.records),
            "the recovery's log line",
        )
        tasks.cancel_scope.cancel()


async def test_without_a_primary_nothing_is_queued_and_a_lost_one_is_forgotten(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sock"
    publisher = LiveTailPublisher(path)
    block = EventBlock(1, 1, b"x")
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(publisher.run)  # nobody listens yet: it keeps trying
        publisher.publish(REGION, "g", "s", block, 2)
        assert publisher._queued_bytes == 0 and publisher.dropped_events == 0
        primary = FakePrimary(path, [(REGION, "g")])
        await primary.serve(tasks)
        await wait_until_async(lambda: publisher.wanted, "the publisher to connect")
        publisher.publish(REGION, "g", "s", block, 2)
        for stream in primary.streams:
            await stream.aclose()  # the primary went away
        await wait_until_async(lambda: not publisher.wanted, "the publisher to forget")
        assert publisher._queued_bytes == 0
        tasks.cancel_scope.cancel()


async def test_the_receiver_drops_a_publisher_that_sends_garbage(
    receiver: tuple[LiveTail, LiveTailReceiver],
) -> None:
    _live_tail, relay = receiver
    async with await anyio.connect_unix(relay.path) as stream:
        reader = BufferedByteReceiveStream(stream)
        (length,) = struct.unpack(">I", await reader.receive_exactly(4))
        assert msgspec.msgpack.decode(await reader.receive_exactly(length), type=Wanted).pairs == []
        await stream.send(struct.pack(">I", MAX_FRAME + 1))
        with anyio.fail_after(STEP_TIMEOUT_S), pytest.raises(anyio.EndOfStream):
            await reader.receive(1)
    await wait_until_async(lambda: relay.connected == 0, "the receiver to let it go")
