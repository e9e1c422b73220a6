"""AWS's error payloads for failures the runtime cannot report itself.

The function's own errors (a handler that raised) come from the runtime's
`/invocation/{id}/error` post; these are the ones Lambda's platform writes:
timeouts, runtime exits, OOM kills, broken runtimes.
"""

from __future__ import annotations

import json
import signal

SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGINT: "interrupt",
    signal.SIGILL: "illegal instruction",
    signal.SIGFPE: "floating point exception",
}
"""How Lambda (a Go program) spells signals in "Runtime exited with error: signal: killed"."""


def error_json(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def exit_reason(returncode: int | None, signum: int | None) -> str:
    if signum is not None:
        try:
            name = SIGNAL_NAMES.get(signal.Signals(signum), f"signal {signum}")
        except ValueError:
            name = f"signal {signum}"
        return f"signal: {name}"
    return f"exit status {returncode}"


def with_request_id(request_id: str | None, message: str) -> str:
    return f"RequestId: {request_id} Error: {message}" if request_id else f"Error: {message}"


def timeout_error(request_id: str | None, timeout_s: float) -> bytes:
    return error_json(
        "Sandbox.Timedout",
        with_request_id(request_id, f"Task timed out after {timeout_s:.2f} seconds"),
    )


def runtime_exit_error(
    request_id: str | None, returncode: int | None, signum: int | None, *, oom: bool
) -> tuple[str, bytes]:
    """(errorType, payload) for a runtime process that ended while it was needed."""
    error_type = "Runtime.OutOfMemory" if oom else "Runtime.ExitError"
    reason = exit_reason(returncode, signum)
    return error_type, error_json(
        error_type, with_request_id(request_id, f"Runtime exited with error: {reason}")
    )


def protocol_error(request_id: str | None) -> tuple[str, bytes]:
    """(errorType, payload) for an environment that sent something it must not (a
    malformed or unexpected frame): AWS's catch-all for a runtime that failed in a way
    it has no name for (RAPID's `Runtime.Unknown`). The details stay in our log, not
    in the caller's payload: they come from inside the sandbox."""
    error_type = "Runtime.Unknown"
    return error_type, error_json(
        error_type, with_request_id(request_id, "Runtime failed: invalid message from the runtime")
    )
