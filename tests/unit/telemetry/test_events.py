"""Output cut into CloudWatch events: lines, the 256 KB limit, UTF-8, the 4 KB tail."""

from __future__ import annotations

from lambdad.telemetry import MAX_EVENT_BYTES
from lambdad.telemetry.events import (
    LineSplitter,
    LogTail,
    make_block,
    platform_messages,
    split_message,
)


def test_one_event_per_line_in_whatever_pieces_output_comes() -> None:
    lines = LineSplitter()
    assert lines.feed(b"one\n\ntwo\r") == [b"one"]
    assert lines.feed(b"\nthr") == [b"two"]  # the CRLF was cut between two reads
    assert lines.feed(b"ee\n  \n\tfour\n") == [b"three", b"\tfour"]
    assert lines.feed(b"no newline yet") == []
    assert lines.end() == [b"no newline yet"]
    assert lines.end() == [] and lines.feed(b"") == []


def test_a_line_longer_than_the_event_limit_is_several_events() -> None:
    line = b"a" * (MAX_EVENT_BYTES * 2 + 10)
    events = LineSplitter().feed(line + b"\nnext\n")
    assert [len(e) for e in events] == [MAX_EVENT_BYTES, MAX_EVENT_BYTES, 10, 4]
    assert b"".join(events[:3]) == line


def test_a_long_partial_line_is_cut_before_its_end_arrives() -> None:
    """Memory per stream stays bounded: a line without end is emitted a limit at a time."""
    lines = LineSplitter(max_event_bytes=10)
    assert lines.feed(b"x" * 25) == [b"x" * 10, b"x" * 10]
    assert lines.feed(b"y" * 4) == []
    assert lines.feed(b"z\n") == [b"x" * 5 + b"y" * 4 + b"z"]
    assert lines.feed(b"w" * 10) == [b"w" * 10]
    assert lines.end() == []


def test_pieces_never_cut_a_utf8_character() -> None:
    text = ("é" * 9).encode()  # 2 bytes each
    pieces = split_message(text, 5)
    assert [len(p) for p in pieces] == [4, 4, 4, 4, 2]
    assert b"".join(pieces).decode() == "é" * 9
    euro = ("€" * 4).encode()  # 3 bytes each
    assert [p.decode() for p in split_message(euro, 4)] == ["€", "€", "€", "€"]


def test_blocks_join_messages_and_replace_bad_utf8() -> None:
    block = make_block(5, [b"ok", b"bad \xff byte"])
    assert block is not None
    assert (block.timestamp_ms, block.count) == (5, 2)
    assert block.messages == "ok\nbad \ufffd byte".encode()
    assert make_block(5, []) is None


def test_platform_lines_never_carry_a_newline() -> None:
    assert platform_messages(["START x", "a\nb", ""]) == [b"START x", b"a", b"b"]


def test_tail_keeps_the_last_bytes_one_event_per_line() -> None:
    tail = LogTail(limit=13)
    for messages in ([b"a" * 10], [b"b" * 10]):
        block = make_block(0, messages)
        assert block is not None
        tail.add(block)
    assert tail.value() == b"a\n" + b"b" * 10 + b"\n"
    big = make_block(0, [b"c" * 100_000, b"end"])
    assert big is not None
    tail.add(big)
    assert tail.value() == b"c" * 8 + b"\nend\n"


def test_a_carriage_return_inside_a_line_keeps_one_event() -> None:
    """Lambda's Node and Python runtimes log multi-line messages with \\r between
    the lines so that CloudWatch keeps them as one event."""
    assert LineSplitter().feed(b"Error: boom\r    at f (app.js:1)\r\n") == [
        b"Error: boom\r    at f (app.js:1)"
    ]
