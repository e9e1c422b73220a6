"""The private channel between the host and the in-sandbox init (`bootstraps/init.py`).

A connected AF_UNIX stream socket (one end passed into the sandbox as an fd)
carries frames:

    u32 header length | u32 body length | header (JSON object, has "type") | body (raw bytes)

Raw bodies keep binary payloads exact and avoid base64 for 6 MB events.
Frame types, host → init: "invoke". Init → host: "ready" (the runtime asked
for its first event: Init is over), "init_error", "result", "log", "exited"
(the runtime process ended; header has returncode/signal), "fault" (the
runtime broke the private Runtime API; init kills it next), and for a streamed
response "stream_start", "stream_chunk" (at most MAX_STREAM_CHUNK bytes each)
and "stream_end".

Everything init sends comes from inside the sandbox, so it is untrusted: every
frame is decoded into one of the shapes below (a closed set: no unknown type,
no unknown field, no wrong type, every string and body bounded) before the host
looks at it, and anything else raises `ChannelError`. The caller poisons that
one environment; nothing a sandbox sends can break the server.

`bootstraps/init.py` holds the same codec in its own standalone copy; the unit
tests run both against each other. The built-in Python runtime's frames come to
the host directly (`runtimes/direct.py` turns them into these shapes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from anyio.abc import ByteSendStream
from anyio.streams.buffered import BufferedByteReceiveStream

PREFIX = struct.Struct(">II")
MAX_HEADER = 16 << 10
"""Init's headers are a few short fields."""
MAX_RESPONSE = 6291556
"""Lambda's response limit as init enforces it (6 MB plus framing slack, as AWS counts)."""
MAX_LOG_CHUNK = 1 << 20
"""Init relays output in reads of 64 KB; anything far past that is not init's."""
MAX_STREAM_CHUNK = 65536
"""Init relays a streamed response in pieces of at most 64 KB."""
MAX_STREAM_ERROR = 1 << 20
"""A stream's error JSON comes from one trailer line (64 KB) or from init itself."""
MAX_CONTENT_TYPE = 256
MAX_ERROR_TYPE = 1024
MAX_REASON = 1024
MAX_REQUEST_ID = 128

ErrorType = Annotated[str, msgspec.Meta(max_length=MAX_ERROR_TYPE)]
RequestId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REQUEST_ID)]


class ChannelError(Exception):
    """The channel carried something that is not a valid frame from init (a broken or
    hostile sandbox); the environment must be destroyed."""


class FromInit(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type"):
    """A frame header from init; `body_limit` bounds the body that may follow it."""

    body_limit: ClassVar[int] = 0


class Ready(FromInit, frozen=True, tag="ready"):
    pass


class InitError(FromInit, frozen=True, tag="init_error"):
    body_limit: ClassVar[int] = MAX_RESPONSE
    error_type: ErrorType | None = None


class Result(FromInit, frozen=True, tag="result"):
    body_limit: ClassVar[int] = MAX_RESPONSE
    request_id: RequestId
    status: Literal["success", "error"]
    error_type: ErrorType | None = None


class Log(FromInit, frozen=True, tag="log"):
    body_limit: ClassVar[int] = MAX_LOG_CHUNK


class Exited(FromInit, frozen=True, tag="exited"):
    returncode: Annotated[int, msgspec.Meta(ge=0, le=255)] | None = None
    signal: Annotated[int, msgspec.Meta(ge=1, le=64)] | None = None


class StreamStart(FromInit, frozen=True, tag="stream_start"):
    request_id: RequestId
    # Printable ASCII only: it becomes an HTTP header of the caller's response.
    content_type: Annotated[str, msgspec.Meta(max_length=MAX_CONTENT_TYPE, pattern="^[ -~]*$")]


class StreamChunk(FromInit, frozen=True, tag="stream_chunk"):
    body_limit: ClassVar[int] = MAX_STREAM_CHUNK


class StreamEnd(FromInit, frozen=True, tag="stream_end"):
    """The end of a streamed response: clean, with the function's error (its type
    and error JSON as the body), or `truncated` (the runtime stopped mid-body)."""

    body_limit: ClassVar[int] = MAX_STREAM_ERROR
    request_id: RequestId
    error_type: ErrorType | None = None
    truncated: bool = False


class Fault(FromInit, frozen=True, tag="fault"):
    reason: Annotated[str, msgspec.Meta(max_length=MAX_REASON)]


class Parked(FromInit, frozen=True, tag="parked"):
    """A parked runtime has started and waits for its function (see `pool.ready`)."""


_FROM_INIT = msgspec.json.Decoder(
    Ready
    | InitError
    | Result
    | Log
    | Exited
    | Fault
    | StreamStart
    | StreamChunk
    | StreamEnd
    | Parked
)
MAX_BODY = max(MAX_RESPONSE, MAX_LOG_CHUNK)


@dataclass(frozen=True)
class Frame:
    """A frame the host sends (host → init)."""

    type: str
    header: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Received:
    """A frame from init, validated."""

    message: FromInit
    body: bytes = b""

    @property
    def type(self) -> str:
        tag = type(self.message).__struct_config__.tag
        assert isinstance(tag, str)
        return tag


def encode_frame(frame: Frame) -> bytes:
    header = msgspec.json.encode({**frame.header, "type": frame.type})
    return PREFIX.pack(len(header), len(frame.body)) + header + frame.body


def decode_prefix(prefix: bytes) -> tuple[int, int]:
    header_len, body_len = PREFIX.unpack(prefix)
    if header_len > MAX_HEADER or body_len > MAX_BODY:
        raise ChannelError(f"frame too large: header {header_len}, body {body_len}")
    return header_len, body_len


def decode_message(raw: bytes) -> FromInit:
    try:
        message: FromInit = _FROM_INIT.decode(raw)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise ChannelError(f"bad frame header: {exc}") from None
    except RecursionError:  # msgspec skips unknown values recursively (before the tag)
        raise ChannelError("bad frame header: nested too deeply") from None
    return message


async def read_frame(stream: BufferedByteReceiveStream) -> Received:
    """Read and validate one frame from init; raises ChannelError for anything but a
    well-formed frame, anyio.IncompleteRead / EndOfStream when init is gone."""
    header_len, body_len = decode_prefix(await stream.receive_exactly(PREFIX.size))
    message = decode_message(await stream.receive_exactly(header_len))
    if body_len > message.body_limit:
        raise ChannelError(f"{type(message).__name__} frame with a {body_len}-byte body")
    body = await stream.receive_exactly(body_len) if body_len else b""
    return Received(message, body)


async def write_frame(stream: ByteSendStream, frame: Frame) -> None:
    await stream.send(encode_frame(frame))
