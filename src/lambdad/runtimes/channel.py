"""The private channel between the host and the in-sandbox init (`bootstraps/init.py`).

A connected AF_UNIX stream socket (one end passed into the sandbox as an fd)
carries frames:

    u32 header length | u32 body length | header (JSON object, has "type") | body (raw bytes)

Raw bodies keep binary payloads exact and avoid base64 for 6 MB events.
Frame types, host → init: "invoke". Init → host: "ready" (the runtime asked
for its first event: Init is over), "init_error", "result", "log", "exited"
(the runtime process ended; header has returncode/signal).

`bootstraps/init.py` holds the same codec in its own standalone copy; the unit
tests run both against each other.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

from anyio.abc import ByteSendStream
from anyio.streams.buffered import BufferedByteReceiveStream

PREFIX = struct.Struct(">II")
MAX_HEADER = 1 << 20
MAX_BODY = 64 << 20
"""Larger than any payload Lambda allows (6 MB); a guard against a corrupt stream."""


class ChannelError(Exception):
    """The channel carried something that is not a frame (a broken init)."""


@dataclass(frozen=True)
class Frame:
    type: str
    header: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""


def encode_frame(frame: Frame) -> bytes:
    header = json.dumps({**frame.header, "type": frame.type}, separators=(",", ":")).encode()
    return PREFIX.pack(len(header), len(frame.body)) + header + frame.body


def decode_prefix(prefix: bytes) -> tuple[int, int]:
    header_len, body_len = PREFIX.unpack(prefix)
    if header_len > MAX_HEADER or body_len > MAX_BODY:
        raise ChannelError(f"frame too large: header {header_len}, body {body_len}")
    return header_len, body_len


def decode_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise ChannelError(f"bad frame header: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise ChannelError("frame header without a type")
    return header


async def read_frame(stream: BufferedByteReceiveStream) -> Frame:
    """Read one frame; raises anyio.IncompleteRead / EndOfStream when init is gone."""
    header_len, body_len = decode_prefix(await stream.receive_exactly(PREFIX.size))
    header = decode_header(await stream.receive_exactly(header_len))
    body = await stream.receive_exactly(body_len) if body_len else b""
    return Frame(header.pop("type"), header, body)


async def write_frame(stream: ByteSendStream, frame: Frame) -> None:
    await stream.send(encode_frame(frame))
