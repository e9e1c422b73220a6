"""The in-sandbox bootstraps loaded as modules, and a fake host for init's channel."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
from types import ModuleType
from typing import Any

from lambdad.runtimes.launch import BOOTSTRAP_DIR
from support.waiting import DEFAULT_TIMEOUT_S, join_thread


def load_bootstrap(module_name: str, relative_path: str) -> ModuleType:
    """A standalone bootstrap file (e.g. "init.py") imported under `module_name`."""
    spec = importlib.util.spec_from_file_location(module_name, BOOTSTRAP_DIR / relative_path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # No __pycache__ beside the bootstraps: the source tree stays as checked out.
    writes, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes
    return module


class FakeHost:
    """The host's end of init's channel: records the frames init sends, sends invokes."""

    def __init__(self, init: ModuleType, sock: socket.socket) -> None:
        self.sock = sock
        self.channel = init.Channel(sock)
        self.frames: list[tuple[dict[str, Any], bytes]] = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def close(self) -> None:
        """Stop reading (the reader sees EOF, never a closed fd), then close."""
        self.sock.shutdown(socket.SHUT_RDWR)
        join_thread(self.reader, "the fake host's reader")
        self.sock.close()

    def _read(self) -> None:
        try:
            while (frame := self.channel.recv()) is not None:
                with self.cond:
                    self.frames.append((frame[0], bytes(frame[1])))
                    self.cond.notify_all()
        except OSError:
            return  # the test closed the channel under the reader: it is done

    def wait_for(self, kind: str, count: int = 1) -> list[tuple[dict[str, Any], bytes]]:
        """The first `count` or more frames of a kind (waits up to DEFAULT_TIMEOUT_S)."""

        def found() -> list[tuple[dict[str, Any], bytes]]:
            return [f for f in self.frames if f[0]["type"] == kind]

        with self.cond:
            assert self.cond.wait_for(lambda: len(found()) >= count, DEFAULT_TIMEOUT_S), self.frames
            return found()

    def invoke(self, request_id: str, event: bytes = b"{}", **extra: Any) -> None:
        header = {
            "request_id": request_id,
            "deadline_ms": 123,
            "invoked_function_arn": "arn:fn",
            "trace_id": "Root=1",
            "client_context": None,
            "cognito_identity": '{"cognitoIdentityId": "x"}',
            **extra,
        }
        self.channel.send("invoke", header, event)
