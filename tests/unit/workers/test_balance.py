"""The primary's balancer on a real loopback port, the test playing its secondaries
over real hand-off channels: each connection goes to the process with the fewest
open ones, nothing goes to a secondary that is not ready or is gone, a full channel
sends the connection to the primary, and the primary keeps no copy of what it handed."""

from __future__ import annotations

import fcntl
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from lambdad.workers.balance import PRIMARY, Balancer, pick
from lambdad.workers.handoff import CLOSED, READY, channel_pair, receive
from lambdad.workers.supervisor import listening_socket
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio


def test_the_pick_is_the_process_with_the_fewest_open_connections() -> None:
    assert pick({0: 3, 1: 1, 2: 2}, last=0) == 1
    assert pick({0: 0, 1: 5}, last=0) == 0
    assert pick({0: 7}, last=3) == PRIMARY  # no secondary takes connections


def test_ties_are_taken_in_turn_after_the_last_pick() -> None:
    assert pick({0: 1, 1: 1, 2: 1}, last=0) == 1
    assert pick({0: 1, 1: 1, 2: 1}, last=1) == 2
    assert pick({0: 1, 1: 1, 2: 1}, last=2) == 0  # wraps around
    assert pick({0: 1, 2: 1}, last=1) == 2  # worker 1 gone: the next one after it
    assert pick({0: 2, 1: 1, 2: 1}, last=1) == 2


def test_a_burst_alternates_so_the_counts_stay_even() -> None:
    counts = {0: 0, 1: 0}
    last = PRIMARY
    for _ in range(16):
        last = pick(counts, last)
        counts[last] += 1
    assert counts == {0: 8, 1: 8}


@dataclass
class Primary:
    """The balancer, the connections it served itself and its port's address."""

    balancer: Balancer
    address: tuple[str, int]
    served: list[socket.socket] = field(default_factory=list)
    on_closed: list[Callable[[], None]] = field(default_factory=list)

    def connect(self, count: int) -> list[socket.socket]:
        """`count` clients connected at once (the kernel completes them all before the
        balancer's next turn: one burst)."""
        clients = [socket.create_connection(self.address, timeout=10) for _ in range(count)]
        return clients

    async def accepted(self, count: int) -> None:
        await wait_until_async(
            lambda: self.balancer.handed_off + self.balancer.served_here >= count, "accepts", 10
        )


@asynccontextmanager
async def primary() -> AsyncIterator[Primary]:
    balancer = Balancer(listening_socket("127.0.0.1", 0))
    found = Primary(balancer, balancer.listener.getsockname())

    def serve(connection: socket.socket, on_closed: Callable[[], None]) -> None:
        found.served.append(connection)
        found.on_closed.append(on_closed)

    balancer.start(serve)
    try:
        yield found
    finally:
        balancer.close()
        for connection in found.served:
            connection.close()


async def secondary(balancer: Balancer, worker: int, *, ready: bool = True) -> socket.socket:
    """The test's end of worker `worker`'s channel (blocking, with a timeout)."""
    ours, theirs = channel_pair()
    balancer.add(worker, ours)
    theirs.settimeout(10)
    if ready:
        theirs.send(READY)
        await wait_until_async(lambda: worker in balancer.ready(), "its READY", 10)
    return theirs


def received(channel: socket.socket, count: int) -> list[socket.socket]:
    connections = []
    for _ in range(count):
        data, fds = receive(channel)
        assert data == b"F" and len(fds) == 1
        assert fcntl.fcntl(fds[0], fcntl.F_GETFD) & fcntl.FD_CLOEXEC  # never to a sandbox
        connections.append(socket.socket(fileno=fds[0]))
    return connections


async def test_four_connections_at_once_are_two_and_two_and_a_close_is_counted() -> None:
    async with primary() as p:
        channel = await secondary(p.balancer, 1)
        clients = {c.getsockname(): c for c in p.connect(4)}
        await p.accepted(4)
        assert len(p.served) == 2 and p.balancer.handed_off == 2
        handed = received(channel, 2)
        assert p.balancer.open_connections() == {0: 2, 1: 2}
        # The handed ones are the clients' connections, and the secondary's alone: once
        # it closes one, its client reads the end (the primary kept no copy).
        client = clients[handed[0].getpeername()]
        handed[0].close()
        assert client.recv(1) == b""
        channel.send(CLOSED)
        await wait_until_async(lambda: p.balancer.open_connections()[1] == 1, "the close", 10)
        p.on_closed[0]()  # one of the primary's own closed
        assert p.balancer.open_connections() == {0: 1, 1: 1}
        for c in [*clients.values(), *handed[1:], channel]:
            c.close()


async def test_sixteen_at_once_on_three_processes_are_as_even_as_they_can_be() -> None:
    async with primary() as p:
        channels = [await secondary(p.balancer, w) for w in (1, 2)]
        clients = p.connect(16)
        await p.accepted(16)
        counts = p.balancer.open_connections()
        assert sorted(counts.values()) == [5, 5, 6] and len(p.served) == counts[0]
        handed = [received(channel, counts[w]) for w, channel in enumerate(channels, 1)]
        for c in [*clients, *channels, *(h for hs in handed for h in hs)]:
            c.close()


async def test_a_secondary_gets_nothing_before_it_is_ready_or_once_it_is_gone() -> None:
    async with primary() as p:
        channel = await secondary(p.balancer, 1, ready=False)
        clients = p.connect(2)
        await p.accepted(2)
        assert len(p.served) == 2 and p.balancer.handed_off == 0
        channel.send(READY)
        await wait_until_async(lambda: p.balancer.ready() == {1}, "its READY", 10)
        clients += p.connect(1)
        await p.accepted(3)
        assert p.balancer.handed_off == 1
        channel.close()  # the process died: the kernel closed its end
        await wait_until_async(lambda: not p.balancer.ready(), "its end", 10)
        assert p.balancer.open_connections() == {0: 2}
        clients += p.connect(3)
        await p.accepted(6)
        assert len(p.served) == 5 and p.balancer.handed_off == 1
        # Restarted: a new channel, no connections, so it gets the next ones.
        channel = await secondary(p.balancer, 1)
        clients += p.connect(3)
        await p.accepted(9)
        assert p.balancer.handed_off == 4
        assert len(received(channel, 3)) == 3
        for c in [*clients, channel]:
            c.close()


async def test_a_full_channel_sends_the_connection_to_the_primary_and_loses_none() -> None:
    async with primary() as p:
        ours, theirs = channel_pair()
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1)  # the kernel's least
        p.balancer.add(1, ours)
        theirs.send(READY)
        await wait_until_async(lambda: p.balancer.ready() == {1}, "its READY", 10)
        clients = p.connect(48)  # the secondary reads none of them
        await p.accepted(48)
        assert p.balancer.channel_full > 0
        assert p.balancer.handed_off + len(p.served) == 48
        assert len(p.served) > 24
        theirs.settimeout(10)
        handed = received(theirs, p.balancer.handed_off)
        for c in [*clients, *handed, theirs]:
            c.close()
