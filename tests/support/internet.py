"""A stand-in for the internet: a network namespace made by the test, with a TCP server.

It is joined to the host by a veth pair on a /30 of a documentation range
(203.0.113.0/24, never routed anywhere real), picked by the test process's
pid so that parallel runs do not collide. Its server answers every connection
on port 8080 with ANSWER. Everything is removed on exit.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from support.waiting import wait_until

ANSWER = b"from the internet"
PORT = 8080
_SERVER = f"""
import socket, sys
server = socket.create_server((sys.argv[1], {PORT}))
while True:
    conn, _ = server.accept()
    conn.sendall({ANSWER!r})
    conn.close()
"""


ASK_SOURCE = """
import socket
def ask(host, port):
    try:
        with socket.create_connection((host, port), timeout=10) as s:
            return s.recv(100).decode() or "connected"
    except OSError as e:
        return type(e).__name__ + (": " + e.strerror if e.strerror else "")
"""
"""Function code: `ask(host, port)` says what a connection got (the first bytes, or the
error's type and text)."""


@dataclass(frozen=True)
class Internet:
    address: str
    port: int = PORT


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@contextmanager
def made_internet() -> Iterator[Internet]:
    tag = os.getpid() % 64
    name, host_if, ns_if = f"lbd-inet-{os.getpid()}", f"lbi{tag}h", f"lbi{tag}n"
    host_ip, ns_ip = f"203.0.113.{4 * tag + 1}", f"203.0.113.{4 * tag + 2}"
    _ip("netns", "add", name)
    server: subprocess.Popen[bytes] | None = None
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", name)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", name, "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        _ip("-n", name, "link", "set", ns_if, "up")
        server = subprocess.Popen(
            ["ip", "netns", "exec", name, sys.executable, "-I", "-c", _SERVER, ns_ip],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _answers(ns_ip), "the test internet's server")
        yield Internet(ns_ip)
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "delete", host_if], capture_output=True, timeout=30)


def _answers(address: str) -> bool:
    try:
        with socket.create_connection((address, PORT), timeout=1) as conn:
            return conn.recv(100) == ANSWER
    except OSError:
        return False
