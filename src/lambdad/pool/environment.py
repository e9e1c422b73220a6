"""One execution environment: a sandbox running the in-sandbox init and a runtime.

Lifecycle (AWS's): `start()` is the cold start — build the sandbox, start the
runtime, run Init (the handler import) — and returns once the runtime waits
for its first event, or with `init_error` set. Then `invoke()` runs one
invocation at a time; `freeze()` parks it between invocations. An environment
started before its function is known is a `ParkedEnvironment` (`pool/adoption.py`).

Contract:
- `invoke()` never raises for the function's failures: they come back as an
  `InvokeOutcome` with `function_error="Unhandled"`. An outcome with
  `reusable=False` (timeout, runtime exit, OOM, init failure) means the
  environment is already dead; the caller still calls `destroy()`.
- The timeout is enforced here, outside the sandbox; the runtime is not asked.
  It covers a streamed response too, however slowly its reader takes it.
- A response the runtime streams goes to `invoke()`'s `response` stream as it
  comes (each piece awaited: back-pressure); without one it is kept whole as
  the outcome's payload. Its end comes back as an outcome with `streamed=True`.
- `destroy()` is idempotent and never raises.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import anyio
import anyio.to_thread
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from lambdad.pool.sandbox_start import (
    make_links,
    prepare_dirs,
    remove_runtime_dirs,
    runtime_api,
    sandbox_spec,
    template_spec,
)
from lambdad.runtimes.channel import (
    ChannelError,
    Exited,
    Fault,
    Frame,
    InitError,
    Log,
    Ready,
    Received,
    Result,
    StreamChunk,
    StreamEnd,
    StreamStart,
    read_frame,
    write_frame,
)
from lambdad.runtimes.direct import DeadlinePassed, DirectLink
from lambdad.runtimes.image_launch import plan_image_launch
from lambdad.runtimes.interpreters import InterpreterCatalog, default_catalog
from lambdad.runtimes.launch import (
    LaunchPlan,
    SandboxLayout,
    is_direct,
    plan_launch,
    runtime_bundle,
)
from lambdad.runtimes.launch import park as park_plan
from lambdad.runtimes.outcomes import (
    error_json,
    protocol_error,
    runtime_exit_error,
    timeout_error,
)
from lambdad.runtimes.output import DiscardOutput, OutputSink
from lambdad.runtimes.prepare import RuntimePreparationError, RuntimeStore
from lambdad.runtimes.spec import EnvironmentSpec, ImageLaunch, InvokeOutcome, InvokeRequest
from lambdad.runtimes.streaming import BufferedResponse, ResponseStream
from lambdad.sandbox import HostEnds
from lambdad.sandbox.base import Sandbox, SandboxBackend

log = logging.getLogger(__name__)

# How a channel whose other end (init) is gone shows itself, on a read or a write:
# the environment is dead, which the caller learns as a runtime exit, never as an
# exception (a function can make init close it, so this is not the server's fault).
CHANNEL_GONE = (
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    OSError,
)

DEFAULT_INIT_TIMEOUT_S = 10.0
"""Lambda's Init phase limit for on-demand environments."""
TRUNCATED_EXIT_WAIT_S = 1.0
"""How long a stream cut short waits for the runtime's exit to tell why."""
RECENT_OUTPUT_BYTES = 16384
"""How much of a phase's output `init_logs` / `InvokeOutcome.logs` keep (the
last bytes): all of it goes to the output sink, none piles up here."""


class ExecutionEnvironment:
    spec: EnvironmentSpec
    init_duration_ms: float
    init_logs: bytes
    init_error: InvokeOutcome | None
    backend_name: str

    def __init__(self, spec: EnvironmentSpec, backend_name: str) -> None:
        self.spec = spec
        self.backend_name = backend_name
        self.init_duration_ms = 0.0
        self.from_snapshot = False
        """Restored from a SnapStart template: `init_duration_ms` is the restore's."""
        self.restore_billed_ms: float | None = None
        """A restore's part that AWS bills (Billed Restore Duration): from the child's
        release to its runtime's first ask, after the after-restore hooks."""
        self.init_logs = b""
        self.init_error = None
        self._sandbox: Sandbox | None = None
        self._stream: SocketStream | None = None
        self._reader: BufferedByteReceiveStream | None = None
        self._direct: DirectLink | None = None
        """The built-in Python runtime's channel to the host (`runtimes.direct`), which
        then carries init's channel and the runtime's output too; else None."""
        self._logs = bytearray()
        self._output: OutputSink = DiscardOutput()
        # Taken by each invoke: uncontended (as it nearly always is) it does not yield.
        self._lock = anyio.Lock(fast_acquire=True)
        self._frozen = False
        self._dead = False
        self._exit: tuple[int | None, int | None] | None = None
        self._preparing_ms = 0.0
        self._parked: (
            tuple[LaunchPlan, SandboxLayout, InterpreterCatalog, RuntimeStore | None] | None
        ) = None
        """A parked environment's plan and what made it (see `pool/adoption.py`)."""
        self.phases: dict[str, float] = {}
        """Where its cold start's time went, in ms, by phase (for the server log)."""
        self.plan: LaunchPlan | None = None
        """How its runtime was started (a template's tells its children's INIT_START)."""

    # ---- start -----------------------------------------------------------------------------

    @classmethod
    async def start(
        cls,
        spec: EnvironmentSpec,
        backend: SandboxBackend,
        *,
        layout: SandboxLayout | None = None,
        catalog: InterpreterCatalog | None = None,
        init_timeout_s: float = DEFAULT_INIT_TIMEOUT_S,
        output: OutputSink | None = None,
        runtimes: RuntimeStore | None = None,
        template: socket.socket | None = None,
    ) -> ExecutionEnvironment:
        """Cold start; with `template` (the sandbox's end of a fork channel), a SnapStart
        template's (`pool/snapstart.py`). `layout` says where things are seen inside the sandbox (a
        backend that cannot remap paths gets host paths); `catalog` what is installed;
        `output` takes Init's output (and later output when `invoke` gets none);
        `runtimes` the prepared runtime dirs (None: the runtime bundles no SDK)."""
        env = cls(spec, backend.name)
        if output is not None:
            env._output = output
        if catalog is None:
            catalog = await anyio.to_thread.run_sync(default_catalog)
        started = time.monotonic()
        try:
            await env._start(backend, layout, catalog, init_timeout_s, runtimes, template=template)
            await env._output.end()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await env.destroy("start failed")
            raise
        # A runtime's first preparation (a download) is the platform's time, not Init's.
        env.init_duration_ms = (time.monotonic() - started) * 1000 - env._preparing_ms
        if env.init_error is not None:
            env.init_error = _replace_duration(env.init_error, env.init_duration_ms)
        log.debug("env %s: init took %.1f ms", spec.env_id, env.init_duration_ms)
        return env

    @classmethod
    async def restored(
        cls,
        spec: EnvironmentSpec,
        sandbox: Sandbox,
        ends: HostEnds,
        *,
        init_timeout_s: float = DEFAULT_INIT_TIMEOUT_S,
        output: OutputSink | None = None,
        start_line: str = "",
        report_line: Callable[[float], str] | None = None,
        started: float | None = None,
        released: float | None = None,
        snapshot: bool = True,
    ) -> ExecutionEnvironment:
        """An environment forked from its SnapStart version's template (`pool/snapstart.py`):
        `sandbox` runs, `ends` are the host's ends of its init's channel, its runtime's
        direct channel and output pipe (`runtimes.direct`); returns once the runtime ran the
        after-restore hooks and waits for its first event (`init_duration_ms` is then the
        restore's duration, from `started`: when the fork was asked for, and
        `restore_billed_ms` the part from `released`: when the child got its variables),
        or with `init_error` set. Not `snapshot`: forked from an on-demand template
        (`pool/preinit.py`), the runtime runs Init, and `init_duration_ms` is its Init's."""
        env = cls(spec, sandbox.backend_name)
        env.from_snapshot = snapshot
        if output is not None:
            env._output = output
        env._sandbox = sandbox
        env._direct = DirectLink(ends.runtime, ends.init, ends.output)
        started = time.monotonic() if started is None else started
        try:
            if start_line:  # RESTORE_START: the platform's line, before the hooks' output
                await env._record_output(f"{start_line}\n".encode())
            await env._await_init(init_timeout_s)
            ended = time.monotonic()
            env.init_duration_ms = (ended - started) * 1000
            env.restore_billed_ms = (ended - (started if released is None else released)) * 1000
            if report_line is not None and env.init_error is None:
                await env._output.write(f"{report_line(env.init_duration_ms)}\n".encode())
            await env._output.end()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await env.destroy("restore failed")
            raise
        if env.init_error is not None:
            env.init_error = _replace_duration(env.init_error, env.init_duration_ms)
        return env

    async def _start(
        self,
        backend: SandboxBackend,
        layout: SandboxLayout | None,
        catalog: InterpreterCatalog,
        init_timeout_s: float,
        runtimes: RuntimeStore | None,
        park: bool = False,
        template: socket.socket | None = None,
    ) -> None:
        """`park`: start the sandbox and runtime only; `adopt` gives it its function.
        `template`: a SnapStart template's fork channel (its runtime gets it)."""
        spec = self.spec
        if spec.image is not None:
            await self._start_image(backend, spec.image, init_timeout_s)
            return
        host_end, init_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # The built-in Python runtime's own channel and output pipe (`runtimes.direct`).
        runtime_host, runtime_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        output_r, output_w = os.pipe()
        direct: DirectLink | None = None
        listener: socket.socket | None = None
        try:
            api, listen, listener = runtime_api(spec, backend)
            direct_fds = (runtime_end.fileno(), output_w)
            planned = await self._plan(
                layout, catalog, runtimes, api, listen, init_end.fileno(), direct_fds
            )
            if planned is None:
                return
            plan, layout, bin_dir = planned
            self.plan = plan
            if is_direct(plan):
                direct = DirectLink(runtime_host, host_end, output_r)
            late: tuple[str, ...] = ()
            if park:
                plan, late = park_plan(plan, layout)
                self._parked = (plan, layout, catalog, runtimes)
            else:
                notices = "".join(f"{n}\n" for n in plan.notices).encode()
                await self._record_output(notices)
            if plan.error:
                self._fail_init(*plan.error)
                return
            await anyio.to_thread.run_sync(make_links, bin_dir, plan)
            sandbox_started = time.monotonic()
            theirs = direct_fds if direct is not None else ()
            planned_spec = sandbox_spec(
                spec, plan, init_end, listener, layout.task, late_mounts=late, direct_fds=theirs
            )
            if template is not None:
                planned_spec = template_spec(planned_spec, template.fileno())
            self._sandbox = await backend.start(planned_spec)
        finally:
            # The sandbox holds its own copies now (or never will).
            init_end.close()
            runtime_end.close()
            os.close(output_w)
            if listener:
                listener.close()
            if direct is None:
                runtime_host.close()
                os.close(output_r)
            if self._sandbox is None:
                if direct is not None:
                    direct.close()
                else:
                    host_end.close()
        if direct is not None:
            self._direct = direct
        else:
            self._stream = await SocketStream.from_socket(host_end)
            self._reader = BufferedByteReceiveStream(self._stream)
        runtime_started = time.monotonic()
        self.phases["sandbox"] = (runtime_started - sandbox_started) * 1000
        if not park:
            await self._await_init(init_timeout_s)
            self.phases["runtime start and Init"] = (time.monotonic() - runtime_started) * 1000

    async def _start_image(
        self, backend: SandboxBackend, image: ImageLaunch, init_timeout_s: float
    ) -> None:
        """A container image function's cold start (see `runtimes.image_launch`)."""
        spec = self.spec
        host_end, init_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        listener: socket.socket | None = None
        try:
            api, listen, listener = runtime_api(spec, backend)
            plan, child = await anyio.to_thread.run_sync(
                lambda: plan_image_launch(
                    spec,
                    image,
                    SandboxLayout(),
                    api_address=api,
                    listen=listen,
                    channel_fd=init_end.fileno(),
                )
            )
            await self._record_output("".join(f"{n}\n" for n in plan.notices).encode())
            if plan.error:
                self._fail_init(*plan.error)
                return
            self._sandbox = await backend.start(
                sandbox_spec(spec, plan, init_end, listener, "/", child_root=child)
            )
        finally:
            init_end.close()
            if listener:
                listener.close()
        self._stream = await SocketStream.from_socket(host_end)
        self._reader = BufferedByteReceiveStream(self._stream)
        await self._await_init(init_timeout_s)

    async def _plan(
        self,
        layout: SandboxLayout | None,
        catalog: InterpreterCatalog,
        runtimes: RuntimeStore | None,
        api: str,
        listen: str,
        channel_fd: int,
        direct_fds: tuple[int, int] | None = None,
    ) -> tuple[LaunchPlan, SandboxLayout, Path] | None:
        """How this environment's runtime starts (and its layout and /var/lang/bin dir);
        None: Init failed already (its runtime could not be prepared)."""
        spec = self.spec
        opt_dir, bin_dir = await anyio.to_thread.run_sync(prepare_dirs, spec)
        if layout is None:
            # The process backend remaps argv and cwd but not env values, so the
            # function must see host paths everywhere.
            remaps = self.backend_name != "process"
            layout = (
                SandboxLayout() if remaps else SandboxLayout.host(spec.code_dir, opt_dir, bin_dir)
            )
        runtime_dir, sdk = None, ""
        found = runtime_bundle(spec, catalog, layout) if runtimes is not None else None
        if runtimes is not None and found is not None:
            bundle, interp = found
            compiler = interp.executable if interp.family == "python" else None
            preparing = time.monotonic()
            try:  # once per runtime and cache dir; later cold starts find it made
                await anyio.to_thread.run_sync(
                    lambda: runtimes.ensure(bundle, interpreter=compiler)
                )
            except RuntimePreparationError as exc:
                self._fail_init("Runtime.InvalidRuntime", str(exc))
                return None
            finally:
                self._preparing_ms = (time.monotonic() - preparing) * 1000
            runtime_dir, sdk = runtimes.mount_source(bundle), bundle.describe()
        plan = plan_launch(
            spec,
            catalog,
            layout,
            opt_dir=opt_dir,
            lang_bin_dir=bin_dir,
            api_address=api,
            listen=listen,
            channel_fd=channel_fd,
            runtime_dir=runtime_dir,
            sdk=sdk,
            direct_fds=direct_fds,
        )
        return plan, layout, bin_dir

    async def _await_init(self, init_timeout_s: float) -> None:
        try:
            with anyio.fail_after(init_timeout_s):
                while True:
                    frame = await self._next_frame()
                    message = None if frame is None else frame.message
                    if frame is None or isinstance(message, Exited):
                        await self._fail_init_exit(frame)
                        return
                    if isinstance(message, Log):
                        await self._record_output(frame.body)
                    elif isinstance(message, Ready):
                        self.init_logs = self._take_logs()
                        if self._sandbox is not None:
                            await self._sandbox.end_init()
                        return
                    elif isinstance(message, InitError):
                        self.init_logs = self._take_logs()
                        self.init_error = await self._failure(
                            frame.body, message.error_type, self.init_logs
                        )
                        await self._kill("init error")
                        return
                    else:
                        raise _unexpected(frame, "during Init")
        except TimeoutError:
            self._fail_init(
                "Sandbox.Timedout", f"Init timed out after {init_timeout_s:.2f} seconds"
            )
            await self._kill("init timeout")
        except ChannelError as exc:
            error_type, payload = protocol_error(None)
            self.init_logs = self._take_logs()
            self.init_error = await self._failure(payload, error_type, self.init_logs)
            await self._poison(exc)

    def _fail_init(self, error_type: str, message: str) -> None:
        self.init_logs = self._take_logs()
        self.init_error = InvokeOutcome(
            payload=error_json(error_type, message),
            function_error="Unhandled",
            error_type=error_type,
            logs=self.init_logs,
            duration_ms=0.0,
            max_memory_used_mb=self._memory_peak(),
            reusable=False,
        )

    async def _fail_init_exit(self, frame: Received | None) -> None:
        returncode, signum = await self._exit_of(frame)
        oom = self._sandbox is not None and self._sandbox.oom_killed()
        error_type, payload = runtime_exit_error(None, returncode, signum, oom=oom)
        self.init_logs = self._take_logs()
        self.init_error = await self._failure(payload, error_type, self.init_logs)
        await self._kill("runtime exited during init")

    # ---- invoke ----------------------------------------------------------------------------

    async def invoke(
        self,
        request: InvokeRequest,
        timeout_s: float,
        output: OutputSink | None = None,
        response: ResponseStream | None = None,
    ) -> InvokeOutcome:
        """Run one invocation; its output goes to `output` and a streamed response
        to `response` (both awaited: backpressure)."""
        async with self._lock:
            if output is not None:
                self._output = output
            if self.init_error is not None:
                return self.init_error
            if self._dead or self._sandbox is None or not self._linked():
                error_type, payload = runtime_exit_error(
                    request.request_id, *(self._exit or (None, None)), oom=False
                )
                return _outcome(payload, error_type, b"", 0.0, 0, reusable=False)
            if self._frozen:
                await self._sandbox.thaw()
                self._frozen = False
            self._sandbox.reset_memory_peak()
            finished = False
            try:
                outcome = await self._run(request, timeout_s, response)
                await self._output.end()
                finished = True
                return outcome
            finally:
                if not finished:
                    # Cancelled mid-invocation: the runtime's state is unknown.
                    with anyio.CancelScope(shield=True):
                        await self._kill("invocation cancelled")

    async def _run(
        self, request: InvokeRequest, timeout_s: float, response: ResponseStream | None
    ) -> InvokeOutcome:
        header = {
            "request_id": request.request_id,
            "deadline_ms": request.deadline_ms,
            "invoked_function_arn": request.invoked_function_arn,
            "trace_id": request.trace_id,
            "client_context": _decode_client_context(request.client_context),
            "cognito_identity": request.cognito_identity,
            "stream_limit": request.stream_limit,
        }
        started = time.monotonic()
        if self._direct is not None:
            return await self._run_direct(request, header, timeout_s, response, started)
        deadline = anyio.CancelScope(deadline=anyio.current_time() + timeout_s)
        try:
            with deadline:
                try:
                    await self._send(Frame("invoke", header, request.payload))
                except CHANNEL_GONE:
                    pass  # init is gone: reading tells how it ended
                while True:
                    frame = await self._next_reply(request, started)
                    if isinstance(frame, InvokeOutcome):
                        return frame
                    message = frame.message
                    if isinstance(message, Result) and message.request_id == request.request_id:
                        return self._result(frame.body, message, started)
                    elif (
                        isinstance(message, StreamStart)
                        and message.request_id == request.request_id
                    ):
                        return await self._relay(request, message, response, started)
                    else:
                        raise _unexpected(frame, "during an invocation")
        except TimeoutError:
            return await self._timed_out(request, timeout_s, started)
        except ChannelError as exc:
            return await self._protocol_failure(request, exc, started)
        # The loop ends in a return or a raise: only the deadline ends it here.
        return await self._timed_out(request, timeout_s, started)

    async def _run_direct(
        self,
        request: InvokeRequest,
        header: dict[str, object],
        timeout_s: float,
        response: ResponseStream | None,
        started: float,
    ) -> InvokeOutcome:
        """`_run` over the direct link: its waits end at the deadline themselves (a cancel
        scope around each invocation cost it ~10 µs); once output or a streamed response
        comes (whose writes may wait), the rest waits in one."""
        link = self._direct
        assert link is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s  # anyio's clock too (`anyio.current_time`)
        try:
            try:
                await link.send(Frame("invoke", header, request.payload), deadline)
            except CHANNEL_GONE:
                pass  # the runtime is gone: reading tells how it ended
            while True:
                frame = await self._next_reply(request, started, deadline)
                if isinstance(frame, InvokeOutcome):
                    return frame
                message = frame.message
                if isinstance(message, Result) and message.request_id == request.request_id:
                    return self._result(frame.body, message, started)
                if isinstance(message, StreamStart) and message.request_id == request.request_id:
                    with anyio.CancelScope(deadline=deadline):
                        return await self._relay(request, message, response, started)
                    raise DeadlinePassed  # the scope ends without a return at its deadline
                raise _unexpected(frame, "during an invocation")
        except (DeadlinePassed, TimeoutError):
            return await self._timed_out(request, timeout_s, started)
        except ChannelError as exc:
            return await self._protocol_failure(request, exc, started)

    def _result(self, body: bytes, message: Result, started: float) -> InvokeOutcome:
        duration = (time.monotonic() - started) * 1000
        if message.status == "success":
            return InvokeOutcome(
                payload=body,
                function_error=None,
                error_type=None,
                logs=self._take_logs(),
                duration_ms=duration,
                max_memory_used_mb=self._memory_peak(),
                reusable=True,
            )
        error_type = message.error_type or "Unhandled"
        return _outcome(
            body, error_type, self._take_logs(), duration, self._memory_peak(), reusable=True
        )

    async def _timed_out(
        self, request: InvokeRequest, timeout_s: float, started: float
    ) -> InvokeOutcome:
        duration = (time.monotonic() - started) * 1000
        memory = self._memory_peak()
        await self._kill("timeout")
        return _outcome(
            timeout_error(request.request_id, timeout_s),
            "Sandbox.Timedout",
            self._take_logs(),
            duration,
            memory,
            reusable=False,
        )

    async def _relay(
        self,
        request: InvokeRequest,
        start: StreamStart,
        response: ResponseStream | None,
        started: float,
    ) -> InvokeOutcome:
        """A streamed response, from its start to its end (the caller's timeout and
        ChannelError handling apply): each piece to `response`, or kept whole."""
        kept = BufferedResponse()
        target: ResponseStream = kept if response is None else response
        await target.start(start.content_type)
        total = 0
        while True:
            frame = await self._next_reply(request, started)
            if isinstance(frame, InvokeOutcome):
                return frame
            message = frame.message
            if isinstance(message, StreamChunk):
                total += len(frame.body)
                if total > request.stream_limit:  # init enforces it: this one is hostile
                    raise ChannelError(f"a streamed response past {request.stream_limit} bytes")
                await target.write(frame.body)
            elif isinstance(message, StreamEnd) and message.request_id == request.request_id:
                break
            else:
                raise _unexpected(frame, "during a streamed response")
        if message.truncated:
            return await self._truncated(request, started)
        duration = (time.monotonic() - started) * 1000
        logs, memory = self._take_logs(), self._memory_peak()
        error_type = message.error_type
        if error_type is not None:
            outcome = _outcome(frame.body, error_type, logs, duration, memory, reusable=True)
        else:
            payload = kept.body if response is None else b""
            outcome = InvokeOutcome(payload, None, None, logs, duration, memory, reusable=True)
        return replace(outcome, streamed=response is not None)

    async def _truncated(self, request: InvokeRequest, started: float) -> InvokeOutcome:
        """The runtime stopped mid-stream: a runtime that ended says how (briefly
        waited for); one that only dropped the connection is in an unknown state."""
        with anyio.move_on_after(TRUNCATED_EXIT_WAIT_S):
            frame = await self._next_reply(request, started)
            if isinstance(frame, InvokeOutcome):
                return frame
            raise _unexpected(frame, "after a truncated stream")
        duration = (time.monotonic() - started) * 1000
        memory = self._memory_peak()
        await self._kill("streamed response cut short")
        message = "The runtime ended the response stream before it was complete"
        error_type = "Runtime.TruncatedResponse"
        payload = error_json(error_type, message)
        return _outcome(payload, error_type, self._take_logs(), duration, memory, reusable=False)

    async def _next_reply(
        self, request: InvokeRequest, started: float, deadline: float | None = None
    ) -> Received | InvokeOutcome:
        """The invocation's next frame that is not output (output is recorded on the
        way), or its outcome when the runtime ended. With `deadline` (the event loop's
        clock; the direct link only), DeadlinePassed once it passed."""
        while True:
            frame = await self._next_frame(deadline)
            if frame is None or isinstance(frame.message, Exited):
                return await self._exited(request, frame, started)
            if not isinstance(frame.message, Log):
                return frame
            if deadline is None:
                await self._record_output(frame.body)
                continue
            # Output: the log store may make it wait (backpressure). From here on the
            # invocation waits in one scope to the deadline, as without the direct link.
            with anyio.CancelScope(deadline=deadline):
                await self._record_output(frame.body)
                return await self._next_reply(request, started)
            raise DeadlinePassed  # the scope ends without a return at its deadline

    async def _exited(
        self, request: InvokeRequest, frame: Received | None, started: float
    ) -> InvokeOutcome:
        duration = (time.monotonic() - started) * 1000
        returncode, signum = await self._exit_of(frame)
        oom = self._sandbox is not None and self._sandbox.oom_killed()
        error_type, payload = runtime_exit_error(request.request_id, returncode, signum, oom=oom)
        memory = self._memory_peak()
        await self._kill("runtime exited")
        return _outcome(payload, error_type, self._take_logs(), duration, memory, reusable=False)

    async def _protocol_failure(
        self, request: InvokeRequest, exc: ChannelError, started: float
    ) -> InvokeOutcome:
        duration = (time.monotonic() - started) * 1000
        error_type, payload = protocol_error(request.request_id)
        memory = self._memory_peak()
        await self._poison(exc)
        return _outcome(payload, error_type, self._take_logs(), duration, memory, reusable=False)

    async def _poison(self, exc: ChannelError) -> None:
        """Destroy the environment for what came over its channel (logged, for the
        operator: the caller's payload never carries text from inside the sandbox)."""
        log.warning("env %s: invalid frame from the sandbox: %s", self.spec.env_id, exc)
        await self._kill("invalid frame from the sandbox")

    # ---- idle and teardown -----------------------------------------------------------------

    async def freeze(self, still_wanted: Callable[[], bool] = lambda: True) -> None:
        """Stop every process of the sandbox until the next `invoke()` thaws it;
        `still_wanted` is asked once no invocation runs (one may have begun)."""
        async with self._lock:
            if self._sandbox is None or self._dead or self._frozen or not still_wanted():
                return
            await self._sandbox.freeze()
            self._frozen = True

    @property
    def sandbox(self) -> Sandbox | None:
        return self._sandbox

    @property
    def frozen(self) -> bool:
        return self._frozen

    def is_alive(self) -> bool:
        """Whether the environment can take an invocation (no wait, no I/O)."""
        return (
            not self._dead
            and self.init_error is None
            and self._sandbox is not None
            and self._sandbox.exit_status() is None
        )

    async def destroy(self, reason: str) -> None:
        with anyio.CancelScope(shield=True):
            await self._kill(reason)
            if self._sandbox is None:
                # No sandbox ever owned work_dir; clean what we put there.
                await anyio.to_thread.run_sync(remove_runtime_dirs, self.spec.work_dir)

    async def _kill(self, reason: str) -> None:
        if not self._dead:
            log.info("env %s: destroyed (%s)", self.spec.env_id, reason)
        self._dead = True
        if self._stream is not None:
            stream, self._stream = self._stream, None
            try:
                await stream.aclose()
            except OSError:
                pass
        if self._direct is not None:
            self._direct.close()
        if self._sandbox is not None:
            try:
                await self._sandbox.destroy(reason)
            except Exception:
                log.exception("env %s: sandbox destroy failed", self.spec.env_id)

    # ---- helpers ---------------------------------------------------------------------------

    async def _next_frame(self, deadline: float | None = None) -> Received | None:
        """The next valid frame from init, or None when the channel closed; raises
        ChannelError for a malformed frame or a fault init reports (and DeadlinePassed:
        see `DirectLink.next_frame`)."""
        try:
            if self._direct is not None:
                if self._dead:
                    return None
                frame = await self._direct.next_frame(deadline)
                if frame is None:
                    return None
            elif self._reader is None:
                return None
            else:
                frame = await read_frame(self._reader)
        except CHANNEL_GONE:
            return None
        if isinstance(frame.message, Fault):
            raise ChannelError(f"init reports a fault: {frame.message.reason!r}")
        return frame

    def _linked(self) -> bool:
        """Whether the host still holds its channel(s) to the sandbox."""
        return self._stream is not None or (self._direct is not None and not self._dead)

    async def _send(self, frame: Frame) -> None:
        """A frame to init, or to a direct-channel runtime (and init: see `DirectLink`)."""
        if self._direct is not None:
            await self._direct.send(frame)
        elif self._stream is not None:
            await write_frame(self._stream, frame)
        else:
            raise anyio.ClosedResourceError

    async def _exit_of(self, frame: Received | None) -> tuple[int | None, int | None]:
        """How the runtime ended: from init's "exited" frame, else from the sandbox itself."""
        if frame is not None and isinstance(frame.message, Exited):
            self._exit = (frame.message.returncode, frame.message.signal)
        elif self._sandbox is not None:
            status = self._sandbox.exit_status()
            if status is None:
                with anyio.move_on_after(1.0):
                    status = await self._sandbox.wait()
            self._exit = (status.returncode, status.signal) if status else (None, 9)
        return self._exit or (None, None)

    async def _failure(self, payload: bytes, error_type: str | None, logs: bytes) -> InvokeOutcome:
        memory = self._memory_peak()
        return _outcome(payload, error_type or "Unhandled", logs, 0.0, memory, reusable=False)

    async def _record_output(self, data: bytes) -> None:
        """Hand output to the sink, keeping only the last RECENT_OUTPUT_BYTES here."""
        await self._output.write(data)
        self._logs += data[-RECENT_OUTPUT_BYTES:]
        del self._logs[:-RECENT_OUTPUT_BYTES]

    def _take_logs(self) -> bytes:
        logs = bytes(self._logs)
        self._logs.clear()
        return logs

    def cpu_throttles(self) -> int:
        """How many CPU periods the kernel has held the sandbox back to its share so
        far (0 without a sandbox or a CPU limit); see `Sandbox.cpu_throttles`."""
        if self._sandbox is None or self._dead:
            return 0
        try:
            return self._sandbox.cpu_throttles()
        except (OSError, ValueError):
            return 0  # going away under us: a dead sandbox's group is gone

    def _memory_peak(self) -> int:
        if self._sandbox is None:
            return 0
        try:
            return self._sandbox.memory_peak_mb()
        except Exception:
            return 0


def _outcome(
    payload: bytes,
    error_type: str,
    logs: bytes,
    duration_ms: float,
    memory_mb: int,
    *,
    reusable: bool,
) -> InvokeOutcome:
    return InvokeOutcome(
        payload=payload,
        function_error="Unhandled",
        error_type=error_type,
        logs=logs,
        duration_ms=duration_ms,
        max_memory_used_mb=memory_mb,
        reusable=reusable,
    )


def _unexpected(frame: Received, when: str) -> ChannelError:
    return ChannelError(f"unexpected {frame.type!r} frame {when}")


def _replace_duration(outcome: InvokeOutcome, duration_ms: float) -> InvokeOutcome:
    return replace(outcome, duration_ms=duration_ms)


def _decode_client_context(value: str | None) -> str | None:
    """X-Amz-Client-Context is base64 JSON; the Runtime API header carries the JSON itself."""
    if not value:
        return None
    try:
        decoded = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return value
    # One line of ASCII: it travels as an HTTP header (Lambda-Runtime-Client-Context).
    return json.dumps(decoded, separators=(",", ":"), ensure_ascii=True)
