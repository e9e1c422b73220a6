"""The `application/vnd.amazon.eventstream` encoding of InvokeWithResponseStream.

Each message: a prelude (total length, headers length, the prelude's CRC32,
all big-endian u32), the headers, the payload, then the CRC32 of everything
before it. Headers here are all strings (value type 7: a u16 length and UTF-8
bytes). botocore ships only a decoder (`botocore.eventstream`) and no encoder
is kept on PyPI for this, so these few lines are ours; the unit tests decode
every message with botocore's parser.

Lambda's events (botocore's `InvokeWithResponseStreamResponseEvent`):
`PayloadChunk` carries raw bytes (its `Payload` is the event payload) and
`InvokeComplete` a JSON object with `ErrorCode`, `ErrorDetails`, `LogResult`.
"""

from __future__ import annotations

import json
import struct
import zlib

STRING = 7
MAX_HEADER_VALUE = 0xFFFF
MAX_PAYLOAD_CHUNK = 64 * 1024
"""The largest PayloadChunk sent; a larger piece of a response becomes several."""

_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def encode_message(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    raw_headers = b"".join(_header(name, value) for name, value in headers)
    total = _PRELUDE.size + _CRC.size + len(raw_headers) + len(payload) + _CRC.size
    prelude = _PRELUDE.pack(total, len(raw_headers))
    head = prelude + _CRC.pack(zlib.crc32(prelude)) + raw_headers + payload
    return head + _CRC.pack(zlib.crc32(head))


def _header(name: str, value: str) -> bytes:
    raw_name = name.encode()
    raw_value = value.encode()
    if len(raw_name) > 255 or len(raw_value) > MAX_HEADER_VALUE:
        raise ValueError(f"event stream header {name!r} is too long")
    typed = struct.pack(">BH", STRING, len(raw_value)) + raw_value
    return bytes([len(raw_name)]) + raw_name + typed


def payload_chunks(data: bytes) -> list[bytes]:
    """`data` as PayloadChunk events (none for no bytes)."""
    return [
        encode_message(
            [
                (":event-type", "PayloadChunk"),
                (":content-type", "application/octet-stream"),
                (":message-type", "event"),
            ],
            data[start : start + MAX_PAYLOAD_CHUNK],
        )
        for start in range(0, len(data), MAX_PAYLOAD_CHUNK)
    ]


def invoke_complete(
    error_code: str | None, error_details: str | None, log_result: str | None
) -> bytes:
    body: dict[str, str] = {}
    if error_code is not None:
        body["ErrorCode"] = error_code
    if error_details is not None:
        body["ErrorDetails"] = error_details
    if log_result is not None:
        body["LogResult"] = log_result
    return json_message("InvokeComplete", body)


def json_message(name: str, body: object, message_type: str = "event") -> bytes:
    """`body` as JSON in an event (`:event-type` `name`) or, with message_type "exception",
    a modeled exception (`:exception-type` `name`)."""
    return encode_message(
        [
            (f":{message_type}-type", name),
            (":content-type", "application/json"),
            (":message-type", message_type),
        ],
        json.dumps(body).encode(),
    )
