"""Raw function output (bytes, in arbitrary pieces) cut into CloudWatch log events.

Lambda makes one log event per line of output. A line longer than
CloudWatch's event limit (256 KB) becomes several events of at most that size,
cut between UTF-8 characters. Blank lines make no event, a CRLF ending counts
as a newline, and bytes that are not UTF-8 become U+FFFD, as CloudWatch shows
them.

Events travel as one `EventBlock`: their UTF-8 messages joined by "\\n". No
message contains a newline (that is where lines were cut), so a block needs no
per-event framing, and cutting a flood of short lines costs a few C-level
passes over the bytes rather than a Python object per line.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_EVENT_BYTES = 256 * 1024 - 26
"""CloudWatch Logs' maximum log event size (256 KB, counting the message's UTF-8
bytes plus 26 bytes per event)."""


@dataclass(frozen=True)
class EventBlock:
    """`count` consecutive events that happened at `timestamp_ms`."""

    timestamp_ms: int
    count: int
    messages: bytes
    """UTF-8 messages joined by b"\\n" (none of them empty or with a newline)."""


class LineSplitter:
    """Cuts a stream of output into event messages; keeps at most one partial line.

    The partial line (output after the last newline) waits for the rest of its
    line, but never grows past MAX_EVENT_BYTES: a full event's worth is cut
    off at once, so memory per stream stays bounded whatever the function writes.
    """

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self.max_event_bytes = max_event_bytes
        self._partial = b""

    def feed(self, data: bytes) -> list[bytes]:
        """The complete events in `data` (after what was pending)."""
        if not data:
            return []
        lines = (self._partial + data).replace(b"\r\n", b"\n").split(b"\n")
        self._partial = lines.pop()
        if _longest(lines) > self.max_event_bytes:
            lines = _cut_long(lines, self.max_event_bytes)
        if len(self._partial) >= self.max_event_bytes:
            pieces = split_message(self._partial, self.max_event_bytes)
            self._partial = pieces.pop() if len(pieces[-1]) < self.max_event_bytes else b""
            lines += pieces
        return [line for line in lines if line.strip()]

    def end(self) -> list[bytes]:
        """The last partial line as events (the output ended, or a platform line follows)."""
        rest, self._partial = self._partial, b""
        rest = rest[:-1] if rest.endswith(b"\r") else rest
        return split_message(rest, self.max_event_bytes) if rest.strip() else []


def _longest(lines: list[bytes]) -> int:
    return max(map(len, lines), default=0)


def _cut_long(lines: list[bytes], limit: int) -> list[bytes]:
    out: list[bytes] = []
    for line in lines:
        out += split_message(line, limit) if len(line) > limit else [line]
    return out


def split_message(message: bytes, limit: int = MAX_EVENT_BYTES) -> list[bytes]:
    """`message` in pieces of at most `limit` bytes, never inside a UTF-8 character."""
    pieces = []
    while len(message) > limit:
        cut = limit
        # Back off over continuation bytes (10xxxxxx) to a character's first byte.
        while cut > limit - 4 and message[cut] & 0xC0 == 0x80:
            cut -= 1
        pieces.append(message[:cut])
        message = message[cut:]
    if message:
        pieces.append(message)
    return pieces


def make_block(timestamp_ms: int, messages: list[bytes]) -> EventBlock | None:
    """Messages as one block, with invalid UTF-8 replaced; None when there are none."""
    if not messages:
        return None
    joined = b"\n".join(messages)
    try:
        joined.decode()
    except UnicodeDecodeError:
        # U+FFFD is 3 bytes: a message may outgrow the limit by a little; CloudWatch
        # counts characters the same way, so the replacement stands as it is.
        joined = joined.decode("utf-8", "replace").encode()
    return EventBlock(timestamp_ms, len(messages), joined)


def platform_messages(lines: list[str]) -> list[bytes]:
    """lambdad's own lines (START, END, REPORT, errors) as event messages."""
    messages: list[bytes] = []
    for line in lines:
        encoded = line.encode()
        if b"\n" not in encoded and len(encoded) <= MAX_EVENT_BYTES and encoded.strip():
            messages.append(encoded)  # one line, one event: START, END, REPORT
            continue
        for part in encoded.split(b"\n"):
            if part.strip():
                messages += split_message(part)
    return messages


class LogTail:
    """The last `limit` bytes of an invocation's log as text, one event per line
    (what X-Amz-Log-Result carries: AWS keeps the last 4 KB)."""

    def __init__(self, limit: int = 4096) -> None:
        self.limit = limit
        self._data = b""

    def add(self, block: EventBlock) -> None:
        self._data = (self._data + block.messages[-self.limit :] + b"\n")[-self.limit :]

    def value(self) -> bytes:
        return self._data
