"""uvicorn's httptools protocol, sending a response's head and body in one write.

uvicorn writes the head of a response (status line and headers) when the app
sends `http.response.start`, and the body with `http.response.body`: two
system calls, two TCP segments, and on loopback two wake-ups of the client,
which reads the head, finds no body yet and waits again. On a warm Invoke at
concurrency 1 that second round trip through the kernel and the scheduler was
the largest single item of the server's loop thread (the head's write alone
~14% of the samples holding the GIL: the client, woken by it, ran before the
server got its CPU back).

`CoalescingHttpToolsProtocol` gives uvicorn a transport that holds back a
write that begins a response (`HTTP/`) until the next write on the connection
or the end of the event loop's current pass, whichever comes first. Starlette's
responses send the body right after the start in the same pass, so the two go
out as one write; a head whose body comes later (a streamed response, a slow
app) goes out on the next pass, as soon as the app awaits anything. Bytes keep
their order: a held head is written before anything else, and before the
connection closes or changes protocol.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["CoalescingHttpToolsProtocol", "HeadHoldingTransport"]

HEAD_PREFIX = b"HTTP/"


class HeadHoldingTransport:
    """A transport that holds a response's head until the next write or loop pass.

    Everything but writing and closing goes to the real transport unchanged."""

    __slots__ = ("_flush_handle", "_held", "_loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._flush_handle: asyncio.Handle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_handle = None
            self.transport.write(held + bytes(data))
        elif data[:5] == HEAD_PREFIX:
            self._held = bytes(data)
            self._flush_handle = self._loop.call_soon(self.flush)
        else:
            self.transport.write(data)

    def flush(self) -> None:
        """Write what is held now (the loop's pass ended, or the connection changes)."""
        self._flush_handle = None
        held, self._held = self._held, None
        if held is not None and not self.transport.is_closing():
            self.transport.write(held)

    def writelines(self, data: Any) -> None:
        self.write(b"".join(data))

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._held = None
        self.transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self.transport.set_protocol(protocol)

    # The calls uvicorn makes per request, direct rather than through __getattr__.
    def is_closing(self) -> bool:
        return self.transport.is_closing()

    def pause_reading(self) -> None:
        self.transport.pause_reading()

    def resume_reading(self) -> None:
        self.transport.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's `HttpToolsProtocol` over a `HeadHoldingTransport` (see the module)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        holding = HeadHoldingTransport(transport, self.loop)
        super().connection_made(holding)  # type: ignore[arg-type]
