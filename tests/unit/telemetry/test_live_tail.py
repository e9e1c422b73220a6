"""The Live Tail broadcaster: who gets a published block, bounded buffers, the session cap."""

from __future__ import annotations

import pytest

from lambdad.telemetry.events import EventBlock
from lambdad.telemetry.live_tail import LiveTail, LiveTailLimitExceeded, StreamFilter


def _block(count: int, text: str = "line") -> EventBlock:
    return EventBlock(1000, count, b"\n".join([text.encode()] * count))


def test_a_block_goes_to_the_sessions_of_its_region_group_and_streams() -> None:
    tail = LiveTail()
    with (
        tail.subscribe("us-east-1", ["/g"], StreamFilter()) as every,
        tail.subscribe("us-east-1", ["/g"], StreamFilter(names=frozenset({"s1"}))) as named,
        tail.subscribe("us-east-1", ["/g"], StreamFilter(prefixes=("2026/",))) as prefixed,
        tail.subscribe("eu-west-1", ["/g"], StreamFilter()) as elsewhere,
        tail.subscribe("us-east-1", ["/other"], StreamFilter()) as other,
    ):
        tail.publish("us-east-1", "/g", "s1", _block(1), 2000)
        tail.publish("us-east-1", "/g", "2026/01/01/x", _block(2), 2000)
        assert [b.stream for b in every.take()[0]] == ["s1", "2026/01/01/x"]
        assert [b.stream for b in named.take()[0]] == ["s1"]
        assert [b.stream for b in prefixed.take()[0]] == ["2026/01/01/x"]
        assert elsewhere.take() == ([], 0)
        assert other.take() == ([], 0)
        assert every.take() == ([], 0)  # taken once
    assert tail.open_sessions == 0
    assert (tail.started, tail.ended) == (5, 5)


def test_a_slow_session_loses_the_oldest_blocks_and_counts_them() -> None:
    tail = LiveTail(capacity=10)
    with tail.subscribe("r", ["/g"], StreamFilter()) as session:
        for index in range(5):
            tail.publish("r", "/g", "s", _block(4, f"n{index}"), 2000)
        blocks, dropped = session.take()
        assert [b.block.messages.split(b"\n")[0] for b in blocks] == [b"n3", b"n4"]
        assert dropped == 12
        tail.publish("r", "/g", "s", _block(50), 2000)  # bigger than the buffer: kept alone
        blocks, dropped = session.take()
        assert [b.block.count for b in blocks] == [50] and dropped == 0


def test_sessions_are_capped() -> None:
    tail = LiveTail(max_sessions=1)
    with tail.subscribe("r", ["/g"], StreamFilter()):
        with pytest.raises(LiveTailLimitExceeded), tail.subscribe("r", ["/g"], StreamFilter()):
            pass
        with pytest.raises(LiveTailLimitExceeded):
            tail.open("r", ["/g"], StreamFilter())
    tail.close(tail.open("r", ["/g"], StreamFilter()))
    assert tail.open_sessions == 0 and tail.started == tail.ended == 2


def test_a_session_buffer_is_bounded_in_bytes_too() -> None:
    tail = LiveTail(capacity=1000, capacity_bytes=100)
    with tail.subscribe("r", ["/g"], StreamFilter()) as session:
        for index in range(4):
            tail.publish("r", "/g", "s", _block(1, f"{index}" * 40), 2000)
        blocks, dropped = session.take()
        assert [b.block.messages[:1] for b in blocks] == [b"2", b"3"]
        assert dropped == 2


def test_listeners_hear_of_each_session_opened_or_closed_and_what_is_tailed() -> None:
    tail = LiveTail()
    heard: list[frozenset[tuple[str, str]]] = []
    tail.on_sessions_change(lambda: heard.append(tail.tailed()))
    with tail.subscribe("r", ["/a", "/b"], StreamFilter()):
        with tail.subscribe("q", ["/a"], StreamFilter()):
            pass
    session = tail.open("r", ["/c"], StreamFilter())
    tail.close(session)
    tail.close(session)  # again: nothing, nobody told
    ab = {("r", "/a"), ("r", "/b")}
    assert heard == [
        frozenset(ab),
        frozenset(ab | {("q", "/a")}),
        frozenset(ab),
        frozenset(),
        frozenset({("r", "/c")}),
        frozenset(),
    ]
