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
    ChannelError,
    Frame,
    decode_header,
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
    assert decode_header(raw[8 : 8 + header_len]) == {"type": "log"}


def test_decode_rejects_garbage() -> None:
    with pytest.raises(ChannelError):
        decode_prefix(b"\xff\xff\xff\xff\x00\x00\x00\x00")
    with pytest.raises(ChannelError):
        decode_header(b"[1]")


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
    assert reply.type == "result" and reply.header["request_id"] == "r1"
    assert reply.body == payload
