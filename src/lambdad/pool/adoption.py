"""Parked environments: started before their function is known, adopted by one later.

`pool/ready.py` says why and when. `ParkedEnvironment.park` starts a sandbox and
runtime the way any environment starts, with /var/task and /opt left as empty
mount points and the runtime waiting before Init; `adopt` makes it a function's:
its code and layers mounted there, its memory and CPU limits applied, its
variables handed to the runtime, its Init run. From then on it is an
`ExecutionEnvironment` like any other, indistinguishable from inside.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace

import anyio
import anyio.to_thread

from lambdad.pool.environment import DEFAULT_INIT_TIMEOUT_S, ExecutionEnvironment
from lambdad.runtimes.channel import ChannelError, Exited, Frame, Log, Parked
from lambdad.runtimes.interpreters import InterpreterCatalog, default_catalog
from lambdad.runtimes.launch import RUNTIME_API_PORT, misfit
from lambdad.runtimes.output import OutputSink
from lambdad.runtimes.prepare import RuntimeStore
from lambdad.runtimes.spec import EnvironmentSpec
from lambdad.sandbox.base import MB_PER_VCPU, LateMounts, SandboxBackend, SandboxError


class ParkedEnvironment(ExecutionEnvironment):
    """An execution environment started without its function (`park`), until `adopt`."""

    @classmethod
    async def park(
        cls,
        spec: EnvironmentSpec,
        backend: SandboxBackend,
        *,
        catalog: InterpreterCatalog | None = None,
        runtimes: RuntimeStore | None = None,
    ) -> ParkedEnvironment:
        """Start `spec`'s sandbox and runtime but not its function: /var/task and /opt
        stay empty, and the runtime waits for `adopt` before Init. `spec` names the
        runtime, memory, network and storage; its code and variables are unused."""
        env = cls(spec, backend.name)
        if catalog is None:
            catalog = await anyio.to_thread.run_sync(default_catalog)
        try:
            await env._start(backend, None, catalog, DEFAULT_INIT_TIMEOUT_S, runtimes, park=True)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await env.destroy("park failed")
            raise
        why = "" if env._sandbox is not None else "no sandbox"
        if env.init_error is None and env._sandbox is not None:
            why = await env._await_parked()
        if env.init_error is not None or why:
            await env.destroy("park failed")
            logs = (env.init_logs or env._take_logs())[-500:]
            raise SandboxError(f"env {spec.env_id}: cannot park ({why}): {logs!r}")
        return env

    async def _await_parked(self) -> str:
        """Wait until the parked runtime waits for its function; "" then, else why not."""
        try:
            with anyio.fail_after(DEFAULT_INIT_TIMEOUT_S):
                while True:
                    frame = await self._next_frame()
                    if frame is None or isinstance(frame.message, Exited):
                        return "its runtime exited"
                    if isinstance(frame.message, Parked):
                        return ""
                    if not isinstance(frame.message, Log):
                        return f"an unexpected {frame.type!r} frame"
                    await self._record_output(frame.body)
        except TimeoutError:
            return "its runtime did not start in time"
        except ChannelError as exc:
            return f"invalid frame: {exc}"

    async def adopt(
        self,
        spec: EnvironmentSpec,
        *,
        output: OutputSink | None = None,
        init_timeout_s: float = DEFAULT_INIT_TIMEOUT_S,
    ) -> str | None:
        """Make this parked environment `spec`'s and run its Init; returns None then
        (with `init_error` set as `start`'s would be), or why it cannot be `spec`'s,
        having changed nothing (the caller starts one the usual way)."""
        if self._parked is None or self._sandbox is None or not self._linked():
            return "not a parked environment"
        parked, layout, catalog, runtimes = self._parked
        if not self.is_alive():
            return "it has exited"
        # Its own work dir and sandbox stay; everything else is the function's.
        mine = replace(spec, env_id=self.spec.env_id, work_dir=self.spec.work_dir)
        was, self.spec = self.spec, mine
        api = listen = f"127.0.0.1:{RUNTIME_API_PORT}"
        direct = (0, 0) if self._direct is not None else None  # fd numbers: no matter
        planned = await self._plan(layout, catalog, runtimes, api, listen, 0, direct)
        why = "its runtime cannot be prepared" if planned is None else None
        if planned is not None:
            why = misfit(parked, planned[0], layout)
        if why is not None:
            self.spec, self.init_error, self._logs = was, None, bytearray()
            return why
        assert planned is not None
        plan = planned[0]
        self.spec = replace(mine, env_id=spec.env_id)
        self._parked = None
        if output is not None:
            self._output = output
        started = time.monotonic()
        try:
            await self._record_output("".join(f"{n}\n" for n in plan.notices).encode())
            sandbox = self._sandbox
            assert isinstance(sandbox, LateMounts)
            await sandbox.attach(spec.code_dir, layout.task)
            if spec.layer_dirs:
                await sandbox.attach(spec.layer_dirs[0], layout.opt)
            await sandbox.resize(spec.memory_mb, max(1.0, spec.memory_mb / MB_PER_VCPU))
            self._sandbox.reset_memory_peak()
            body = json.dumps(plan.env).encode()
            await self._send(Frame("assign", {"cwd": layout.task}, body))
            assigned = time.monotonic()
            self.phases = {"mounts and limits": (assigned - started) * 1000}
            await self._await_init(init_timeout_s)
            self.phases["Init"] = (time.monotonic() - assigned) * 1000
            await self._output.end()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.destroy("adoption failed")
            raise
        self.init_duration_ms = (time.monotonic() - started) * 1000
        if self.init_error is not None:
            self.init_error = replace(self.init_error, duration_ms=self.init_duration_ms)
        return None
