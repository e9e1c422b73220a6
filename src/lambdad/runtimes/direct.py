"""The host's end of the built-in Python runtime's direct channel.

A warm invoke used to cross two processes in the sandbox: init (pid 1) relayed
the host's invoke to the runtime and its answer back, two wake-ups of a second
interpreter paid from the function's own CPU quota. For the built-in Python
runtime the host now talks to the runtime itself:

- a socketpair whose sandbox end init passes on to the runtime (named in
  `_LAMBDAD_RUNTIME_FD`), carrying the private Runtime API `bootstraps/init.py`
  describes (runtime → host: next, response, error, init_error, parked;
  host → runtime: invoke, assign, ack);
- one pipe for the runtime's stdout and stderr whose read end is the host's:
  what the runtime (or a process it started) wrote before it sent its result is
  in the pipe when the result is read, and is drained (up to EAGAIN) before the
  result is passed on, so an invocation's output always precedes its result;
- init's channel, for what only pid 1 knows (the runtime's exit and how it
  ended, faults, an Init error posted over HTTP).

`DirectLink.next_frame()` speaks init's channel's vocabulary (`channel.Received`:
ready, result, init_error, log, parked, exited, ...), so the environment reads
one stream of frames either way. The runtime's frames get the checks init gave
them: sizes before anything is read, the header's type, fields and their types,
and a response or error only for the current invocation, once. As init did,
an answer for no current invocation (a second one, a stale one) and an ask
beyond the one outstanding are ignored, but only a few per invocation: those
frames now cost the server's CPU, not the function's, so a flood of them is a
fault. A frame that
breaks this raises `ChannelError` (that environment is destroyed), never more.

Reads are paced by the caller (one chunk of output per `next_frame`), so a runtime
that writes without end blocks on its pipe as it did behind init: nothing piles
up here past one response (6 MB) and one 64 KB chunk of output.

The waits use the event loop's readiness callbacks (`add_reader`) on the three
descriptors at once: anyio waits for one descriptor at a time, and a task group
per invoke would cost the server more than init cost the sandbox. A callback
stays registered from one wait to the next (registering and unregistering three
of them per invoke cost more than the rest of the link's work); one that fires
while nobody waits is unregistered (readiness is level-triggered: it would fire
on every pass of the loop until read), and registered again by the next wait.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from typing import Annotated, Final

import anyio
import msgspec

from lambdad.runtimes.channel import (
    MAX_ERROR_TYPE,
    MAX_REQUEST_ID,
    MAX_RESPONSE,
    PREFIX,
    ChannelError,
    Frame,
    InitError,
    Log,
    Parked,
    Ready,
    Received,
    Result,
    decode_message,
    decode_prefix,
    encode_frame,
)

MAX_RUNTIME_HEADER = 65536
"""The runtime's headers are a few short fields (init's MAX_PRIVATE_HEADER)."""
MAX_RUNTIME_BODY = 64 << 20
"""Past this a body is a fault; between MAX_RESPONSE and this it is read past and
answered as Function.ResponseSizeTooLarge (init's MAX_BODY_READ)."""
OUTPUT_READ = 65536
DRAIN_READS = 256
"""At most this many reads of output go before a result (a runtime that never stops
writing cannot hold its result back for ever), as init drained."""
EXIT_GRACE_S = 0.2
"""After the runtime's exit, how long what it sent before it may still come (a
process it forked can keep its end of the channel open)."""
RECV = 1 << 18
STRAY_LIMIT = 16
"""Stray frames (an answer for no current invocation, an ask beyond the one
outstanding) ignored per invocation, as init ignored them; the next is a fault."""

RequestId = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_REQUEST_ID)]


class DeadlinePassed(Exception):
    """A wait of the link passed the deadline it was given (an invocation's timeout).
    Not an OSError, as a channel's own failures are: a caller tells them apart."""


class FromRuntime(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type"):
    """A frame header the runtime sends (init's PRIVATE_FIELDS)."""


class Next(FromRuntime, frozen=True, tag="next"):
    pass


class Response(FromRuntime, frozen=True, tag="response"):
    request_id: RequestId


class Error(FromRuntime, frozen=True, tag="error"):
    request_id: RequestId
    error_type: str | None = None


class RuntimeInitError(FromRuntime, frozen=True, tag="init_error"):
    error_type: str | None = None


class RuntimeParked(FromRuntime, frozen=True, tag="parked"):
    pass


_FROM_RUNTIME = msgspec.json.Decoder(Next | Response | Error | RuntimeInitError | RuntimeParked)
_ACK: Final = encode_frame(Frame("ack"))
_CONSUMED: Final = Received(Ready())
"""A runtime frame handled here with nothing to pass on (a later "next")."""


def decode_runtime_header(raw: bytes) -> FromRuntime:
    try:
        message: FromRuntime = _FROM_RUNTIME.decode(raw)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise ChannelError(f"bad frame header from the runtime: {exc}") from None
    except RecursionError:
        raise ChannelError("bad frame header from the runtime: nested too deeply") from None
    return message


def size_error(size: int, limit: int) -> tuple[str, bytes]:
    """(errorType, error JSON) of a response past its limit, as Lambda (and init) word it."""
    message = (
        f"Response payload size ({size} bytes) exceeded maximum allowed "
        f"payload size ({limit} bytes)."
    )
    error_type = "Function.ResponseSizeTooLarge"
    return error_type, json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def body_error_type(body: bytes) -> str | None:
    """The errorType of an error JSON, if it has one (any bytes may come)."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    value = value.get("errorType") if isinstance(value, dict) else None
    return value if isinstance(value, str) else None


class DirectLink:
    """The runtime's channel, its output pipe and init's channel, read as one stream of
    frames (`next_frame`); `send` writes the host's frames. One reader at a time (the
    environment's lock); `close` is idempotent."""

    def __init__(self, runtime: socket.socket, init: socket.socket, output: int) -> None:
        runtime.setblocking(False)
        init.setblocking(False)
        os.set_blocking(output, False)
        self._runtime, self._init, self._output = runtime, init, output
        self._fds = (runtime.fileno(), init.fileno(), output)
        self._open = set(self._fds)
        self._ready = set(self._fds)  # may have something to read (not known otherwise)
        self._rbuf = bytearray()
        self._ibuf = bytearray()
        self._header: tuple[FromRuntime, int, int] | None = None  # parsed, body awaited
        self._skip = 0  # bytes left of a body past MAX_RESPONSE, read past
        self._phase = "init"  # → running (first "next"), or → failed (init error)
        self._current: str | None = None
        self._asks = 0  # "next"s not yet answered by an invoke (-1: it came first)
        self._strays = 0  # since the last invoke
        self._held: Received | None = None  # goes out once the output before it has
        self._drained = 0
        self._exited: Received | None = None
        self._exit_by = 0.0
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watched: set[int] = set()  # fds with a readiness callback registered
        self._woken: asyncio.Future[None] | None = None  # while `_wait` waits

    # ---- reading ---------------------------------------------------------------------------

    async def next_frame(self, deadline: float | None = None) -> Received | None:
        """The next frame, as init's channel would have carried it; None once init's
        channel closed. Raises ChannelError for a frame that breaks the protocol, and
        DeadlinePassed when it has to wait past `deadline` (the event loop's clock)."""
        while True:
            if self._closed:  # destroyed meanwhile: its fd numbers may be another's now
                return None
            frame = self._step()
            if frame is not None:
                return frame
            if self._init.fileno() not in self._open and self._exited is None:
                return None  # init is gone (and the sandbox with it)
            await self._wait(deadline)

    def _step(self) -> Received | None:
        """What can be passed on now without waiting, if anything."""
        while True:
            if self._held is not None:
                if self._drained < DRAIN_READS:
                    self._drained += 1
                    data = self._read_output(force=True)
                    if data:
                        return Received(Log(), data)
                held, self._held = self._held, None
                return held
            frame = self._runtime_frame()
            if frame is not None:
                self._hold(frame)
                continue
            data = self._read_output(force=False)
            if data:
                return Received(Log(), data)
            frame = self._init_frame()
            if frame is not None and frame.type == "exited":
                # What the runtime sent before it ended goes first.
                self._exited, self._exit_by = frame, time.monotonic() + EXIT_GRACE_S
                continue
            if frame is not None:
                return frame
            if self._exited is not None and (
                self._runtime.fileno() not in self._open or time.monotonic() >= self._exit_by
            ):
                self._hold(self._exited)
                self._exited = None
                continue
            return None

    def _hold(self, frame: Received) -> None:
        self._held, self._drained = frame, 0

    async def _wait(self, deadline: float | None = None) -> None:
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if deadline is not None and loop.time() >= deadline:
            raise DeadlinePassed
        woken: asyncio.Future[None] = loop.create_future()
        for fd in self._fds:
            if fd in self._open and fd not in self._watched:
                loop.add_reader(fd, self._readable, fd)
                self._watched.add(fd)
        self._woken = woken
        timer = None if deadline is None else loop.call_at(deadline, _wake, woken)
        try:
            if self._exited is None:
                await woken
            else:
                with anyio.move_on_after(max(0.0, self._exit_by - time.monotonic())):
                    await woken
        finally:
            self._woken = None
            if timer is not None:
                timer.cancel()
        if deadline is not None and loop.time() >= deadline:
            raise DeadlinePassed

    def _readable(self, fd: int) -> None:
        """The loop's readiness callback: wake the wait, if any; with none (or once the
        fd is closed: it would be readable for ever) stop watching the fd."""
        self._ready.add(fd)
        woken = self._woken
        if woken is None or fd not in self._open:
            self._unwatch(fd)
        if woken is not None and not woken.done():
            woken.set_result(None)

    def _unwatch(self, fd: int) -> None:
        if fd in self._watched and self._loop is not None:
            self._watched.discard(fd)
            self._loop.remove_reader(fd)

    def _recv(self, sock: socket.socket, buf: bytearray) -> bool:
        """Append what `sock` has to `buf`; False when it has nothing (or closed)."""
        fd = sock.fileno()
        if fd not in self._ready or fd not in self._open:
            return False
        try:
            data = sock.recv(RECV)
        except BlockingIOError:
            self._ready.discard(fd)
            return False
        except OSError:
            data = b""
        if not data:
            self._open.discard(fd)
            return False
        buf += data
        return True

    def _read_output(self, force: bool) -> bytes:
        """One chunk of the runtime's output; `force`: even if not known readable."""
        fd = self._output
        if fd not in self._open or not (force or fd in self._ready):
            return b""
        try:
            data = os.read(fd, OUTPUT_READ)
        except BlockingIOError:
            self._ready.discard(fd)
            return b""
        except OSError:
            data = b""
        if not data:
            self._open.discard(fd)
        return data

    def _init_frame(self) -> Received | None:
        """The next whole frame from init, checked as `channel.read_frame` checks it."""
        while True:
            buf = self._ibuf
            if len(buf) >= PREFIX.size:
                header_len, body_len = decode_prefix(bytes(buf[: PREFIX.size]))
                end = PREFIX.size + header_len
                if len(buf) >= end:
                    message = decode_message(bytes(buf[PREFIX.size : end]))
                    if body_len > message.body_limit:
                        raise ChannelError(
                            f"{type(message).__name__} frame with a {body_len}-byte body"
                        )
                    if len(buf) >= end + body_len:
                        body = bytes(buf[end : end + body_len])
                        del buf[: end + body_len]
                        return Received(message, body)
            if not self._recv(self._init, buf):
                return None

    def _runtime_frame(self) -> Received | None:
        """The next frame from the runtime to pass on, as init would have passed it."""
        while True:
            frame = self._take_runtime()
            if frame is _CONSUMED:
                continue
            if frame is not None:
                return frame
            if not self._recv(self._runtime, self._rbuf):
                return None

    def _take_runtime(self) -> Received | None:
        buf = self._rbuf
        if self._skip:
            n = min(self._skip, len(buf))
            del buf[:n]
            self._skip -= n
            if self._skip:
                return None
            assert self._header is not None
            message, _, size = self._header
            self._header = None
            return self._handle(message, b"", size)
        if self._header is None:
            if len(buf) < PREFIX.size:
                return None
            header_len, size = PREFIX.unpack_from(buf)
            if header_len > MAX_RUNTIME_HEADER:
                raise ChannelError(f"the runtime sent a {header_len}-byte header")
            if size > MAX_RUNTIME_BODY:
                raise ChannelError(f"the runtime sent a {size}-byte body")
            if len(buf) < PREFIX.size + header_len:
                return None
            message = decode_runtime_header(bytes(buf[PREFIX.size : PREFIX.size + header_len]))
            del buf[: PREFIX.size + header_len]
            self._header = (message, header_len, size)
            if size > MAX_RESPONSE:  # read past, never held
                self._skip = size
                return _CONSUMED
        message, _, size = self._header
        if len(buf) < size:
            return None
        body = bytes(buf[:size])
        del buf[:size]
        self._header = None
        return self._handle(message, body, size)

    def _handle(self, message: FromRuntime, body: bytes, size: int) -> Received:
        """What init did with the runtime's frame (`serve_private`); `size` > len(body):
        a body past MAX_RESPONSE, read past."""
        if isinstance(message, Next):
            self._asks += 1
            if self._asks > 1:
                self._asks = 1
                return self._stray("asks for its next event again and again")
            if self._phase != "init":
                return _CONSUMED  # it asks after each answer: the next invoke is its reply
            self._phase = "running"
            return Received(Ready())
        if isinstance(message, Response | Error):
            if message.request_id != self._current:  # init answered 400 or 403 to nobody
                return self._stray("answers invocations that are not the current one")
            self._current = None
            if size > MAX_RESPONSE:  # error payloads too: the host takes nothing larger
                too_large, payload = size_error(size, MAX_RESPONSE)
                return Received(Result(message.request_id, "error", too_large), payload)
            if isinstance(message, Response):
                return Received(Result(message.request_id, "success"), body)
            named = body_error_type(body) or message.error_type
            error_type = named[:MAX_ERROR_TYPE] if named else None
            return Received(Result(message.request_id, "error", error_type), body)
        if isinstance(message, RuntimeInitError):
            self._send_now(_ACK)  # it waits for this before it exits
            if size > len(body) or self._phase != "init":
                return _CONSUMED  # too large to keep (HTTP's 413), or not in Init: refused
            self._phase = "failed"
            named = message.error_type or body_error_type(body) or ""
            return Received(InitError(named[:MAX_ERROR_TYPE]), body)
        assert isinstance(message, RuntimeParked)
        return Received(Parked())

    def _stray(self, what: str) -> Received:
        self._strays += 1
        if self._strays > STRAY_LIMIT:
            raise ChannelError(f"the runtime {what}")
        return _CONSUMED

    # ---- writing ---------------------------------------------------------------------------

    async def send(self, frame: Frame, deadline: float | None = None) -> None:
        """ "invoke" to the runtime (it becomes the current invocation); "assign" to init
        (its working dir) and to the parked runtime. OSError when the runtime is gone;
        DeadlinePassed when it has to wait past `deadline` (the event loop's clock)."""
        data = encode_frame(frame)
        if frame.type == "invoke":
            self._current = frame.header["request_id"]
            self._asks -= 1
            self._strays = 0
            await self._sendall(self._runtime, data, deadline)
        elif frame.type == "assign":
            await self._sendall(self._init, data, deadline)
            await self._sendall(self._runtime, data, deadline)
        else:
            raise ValueError(f"no {frame.type!r} frame goes to the runtime")

    async def _sendall(self, sock: socket.socket, data: bytes, deadline: float | None) -> None:
        with memoryview(data) as view:
            sent = 0
            while sent < len(view):
                try:
                    sent += sock.send(view[sent:])
                except BlockingIOError:
                    if deadline is None:
                        await anyio.wait_writable(sock)
                        continue
                    with anyio.CancelScope(deadline=deadline) as waiting:
                        await anyio.wait_writable(sock)
                    if waiting.cancelled_caught:
                        raise DeadlinePassed from None

    def _send_now(self, data: bytes) -> None:
        try:
            self._runtime.send(data)
        except OSError:  # it is gone, or does not read: it learns nothing more
            pass

    def close(self) -> None:
        """Close the link; a `next_frame` waiting (another task's) returns None."""
        if self._closed:
            return
        self._closed = True
        for fd in list(self._watched):  # before the fds close: their numbers get reused
            self._unwatch(fd)
        woken = self._woken
        if woken is not None and not woken.done():
            woken.set_result(None)
        self._runtime.close()
        self._init.close()
        os.close(self._output)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)
