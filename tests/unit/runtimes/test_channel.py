"""The host codec against init.py's own copy of it, over a real socketpair."""

from __future__ import annotations

import socket
import threading
from types import ModuleType

import anyio
import pytest
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from lambdad.runtimes.channel import (
    MAX_RESPONSE,
    ChannelError,
    Exited,
    Frame,
    Log,
    Received,
    Result,
    StreamEnd,
    StreamStart,
    decode_message,
    decode_prefix,
    encode_frame,
    read_frame,
    write_frame,
)
from support.bootstraps import load_bootstrap


def load_init() -> ModuleType:
    return load_bootstrap("lambdad_init", "init.py")


def test_encode_layout() -> None:
    raw = encode_frame(Frame("log", {}, b"abc"))
    header_len, body_len = decode_prefix(raw[:8])
    assert body_len == 3 and raw[-3:] == b"abc"
    assert decode_message(raw[8 : 8 + header_len]) == Log()


def test_decode_rejects_garbage() -> None:
    with pytest.raises(ChannelError):
        decode_prefix(b"\xff\xff\xff\xff\x00\x00\x00\x00")
    with pytest.raises(ChannelError):
        decode_prefix(b"\x00\x00\x00\x10\xff\xff\xff\xff")
    with pytest.raises(ChannelError):
        decode_message(b"[1]")


def test_decode_accepts_what_init_sends() -> None:
    header = b'{"request_id":"r1","status":"error","error_type":"ValueError","type":"result"}'
    assert decode_message(header) == Result(
        request_id="r1", status="error", error_type="ValueError"
    )
    assert decode_message(b'{"returncode":null,"signal":9,"type":"exited"}') == Exited(signal=9)
    start = b'{"request_id":"r1","content_type":"text/plain","type":"stream_start"}'
    assert decode_message(start) == StreamStart(request_id="r1", content_type="text/plain")
    end = b'{"request_id":"r1","error_type":null,"truncated":true,"type":"stream_end"}'
    assert decode_message(end) == StreamEnd(request_id="r1", truncated=True)


BAD_HEADERS = {
    "not json": b"{nope",
    "not an object": b'"ready"',
    "no type": b'{"request_id":"r1"}',
    "type not a string": b'{"type":5}',
    "unknown type": b'{"type":"explode"}',
    "host-bound type": b'{"type":"invoke"}',
    "unknown field": b'{"type":"ready","extra":1}',
    "error_type a list": b'{"type":"result","request_id":"r","status":"error","error_type":[1]}',
    "error_type too long": (
        b'{"type":"result","request_id":"r","status":"error","error_type":"' + b"E" * 2000 + b'"}'
    ),
    "request_id a number": b'{"type":"result","request_id":7,"status":"success"}',
    "request_id empty": b'{"type":"result","request_id":"","status":"success"}',
    "status unknown": b'{"type":"result","request_id":"r","status":"maybe"}',
    "returncode negative": b'{"type":"exited","returncode":-1}',
    "signal out of range": b'{"type":"exited","signal":1000}',
    "stream_start without a request": b'{"type":"stream_start","content_type":"a"}',
    "content_type too long": (
        b'{"type":"stream_start","request_id":"r","content_type":"' + b"t" * 300 + b'"}'
    ),
    "content_type with a line break": (
        b'{"type":"stream_start","request_id":"r","content_type":"a\\r\\nX-Evil: 1"}'
    ),
    "stream_chunk with a field": b'{"type":"stream_chunk","request_id":"r"}',
    "truncated not a bool": b'{"type":"stream_end","request_id":"r","truncated":"yes"}',
    "deep nesting": b'{"type":"fault","reason":' + b"[" * 10000 + b"]" * 10000 + b"}",
    "deep nesting before the type": b'{"x":' + b"[" * 8000 + b"]" * 8000 + b',"type":"ready"}',
}


@pytest.mark.parametrize("raw", list(BAD_HEADERS.values()), ids=list(BAD_HEADERS))
def test_decode_rejects_every_malformed_header(raw: bytes) -> None:
    with pytest.raises(ChannelError):
        decode_message(raw)


async def _read(raw: bytes) -> object:
    a, b = socket.socketpair()
    stream = await SocketStream.from_socket(a)
    try:
        b.sendall(raw)
        b.close()
        return await read_frame(BufferedByteReceiveStream(stream))
    finally:
        await stream.aclose()


def _frame(header: bytes, body_len: int) -> bytes:
    return len(header).to_bytes(4, "big") + body_len.to_bytes(4, "big") + header


@pytest.mark.anyio
async def test_read_frame_bounds_each_body_by_its_type() -> None:
    # Refused on the header alone: the body is never read (nor sent, here).
    with pytest.raises(ChannelError):
        await _read(_frame(b'{"type":"ready"}', 1))
    with pytest.raises(ChannelError):
        await _read(_frame(b'{"type":"exited","signal":9}', 10))
    with pytest.raises(ChannelError):
        await _read(
            _frame(b'{"type":"result","request_id":"r","status":"success"}', MAX_RESPONSE + 1)
        )
    with pytest.raises(ChannelError):  # init relays a stream in 64 KB pieces
        await _read(_frame(b'{"type":"stream_chunk"}', 65537))
    ok = await _read(_frame(b'{"type":"log"}', 3) + b"abc")
    assert ok == Received(Log(), b"abc")


@pytest.mark.anyio
async def test_roundtrip_with_init_codec() -> None:
    init = load_init()
    host, child = socket.socketpair()
    payload = bytes(range(256)) * (6 * 1024 * 1024 // 256)  # 6 MB, every byte value
    got: list[tuple[dict[str, object], bytes]] = []

    def init_side() -> None:
        channel = init.Channel(child)
        frame = channel.recv()
        assert frame is not None
        got.append(frame)
        channel.send("result", {"request_id": "r1", "status": "success"}, frame[1])

    thread = threading.Thread(target=init_side)
    thread.start()
    stream = await SocketStream.from_socket(host)
    await write_frame(stream, Frame("invoke", {"request_id": "r1"}, payload))
    reply = await read_frame(BufferedByteReceiveStream(stream))
    await anyio.to_thread.run_sync(thread.join)
    await stream.aclose()
    child.close()
    assert got[0][0] == {"request_id": "r1", "type": "invoke"} and got[0][1] == payload
    assert reply.type == "result" and isinstance(reply.message, Result)
    assert reply.message.request_id == "r1"
    assert reply.body == payload
