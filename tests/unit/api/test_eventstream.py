"""The event-stream encoder, checked by decoding with botocore's own parser."""

from __future__ import annotations

import json

import pytest
from botocore.eventstream import EventStreamBuffer

from lambdad.api.eventstream import (
    MAX_PAYLOAD_CHUNK,
    encode_message,
    invoke_complete,
    payload_chunks,
)


def decode(raw: bytes) -> list[tuple[dict[str, str], bytes]]:
    buffer = EventStreamBuffer()
    buffer.add_data(raw)
    return [(message.headers, message.payload) for message in buffer]


def test_payload_chunks_split_large_pieces() -> None:
    data = bytes(range(256)) * 600
    messages = decode(b"".join(payload_chunks(data)))
    assert len(messages) == 3
    assert all(h[":event-type"] == "PayloadChunk" for h, _ in messages)
    assert all(h[":message-type"] == "event" for h, _ in messages)
    assert max(len(p) for _, p in messages) == MAX_PAYLOAD_CHUNK
    assert b"".join(p for _, p in messages) == data
    assert payload_chunks(b"") == []


def test_invoke_complete() -> None:
    ((headers, payload),) = decode(invoke_complete("Unhandled", "boom", "bG9n"))
    assert headers[":event-type"] == "InvokeComplete"
    assert headers[":content-type"] == "application/json"
    expected = {"ErrorCode": "Unhandled", "ErrorDetails": "boom", "LogResult": "bG9n"}
    assert json.loads(payload) == expected
    ((_, payload),) = decode(invoke_complete(None, None, None))
    assert json.loads(payload) == {}


def test_corruption_is_detected_by_the_decoder() -> None:
    raw = bytearray(encode_message([(":event-type", "PayloadChunk")], b"abc"))
    raw[-5] ^= 1  # a payload byte: the message CRC no longer matches
    with pytest.raises(Exception, match="(?i)checksum|crc"):
        decode(bytes(raw))


def test_header_values_are_bounded() -> None:
    with pytest.raises(ValueError):
        encode_message([("x", "v" * 70000)], b"")
