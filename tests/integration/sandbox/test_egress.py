"""Network mode egress: the internet (a test-made namespace stands in), nothing of the host's.

The "internet" is `support.internet`'s. No packet goes to any other address:
the private-range checks only ask the sandbox's routing table.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from lambdad.sandbox import BwrapBackend, EgressPolicy, Mount, SandboxSpec
from lambdad.sandbox.egress import egress_tools, host_addresses
from support.internet import ASK_SOURCE, Internet, made_internet
from support.marks import needs_sandbox

pytestmark = [
    pytest.mark.integration,
    pytest.mark.anyio,
    *needs_sandbox,
    pytest.mark.skipif(
        os.geteuid() != 0 or egress_tools() is None,
        reason="egress needs root, slirp4netns, nsenter and iproute2",
    ),
]

PYTHON = os.path.realpath(sys.executable)
PREFIX = Path(sys.base_prefix)
ALLOWED = ipaddress.IPv4Network("10.9.8.0/24")


@pytest.fixture
def internet() -> Iterator[Internet]:
    with made_internet() as net:
        yield net


@pytest.fixture
def host_service() -> Iterator[int]:
    """A service on every address of the host (its loopback and its own addresses)."""
    with socket.create_server(("0.0.0.0", 0)) as server:
        yield server.getsockname()[1]


@pytest.fixture
async def backend(tmp_path: Path) -> AsyncIterator[BwrapBackend]:
    b = BwrapBackend(state_dir=tmp_path / "state", spares=0, egress=EgressPolicy((ALLOWED,)))
    yield b
    await b.close()


PROBE = (
    ASK_SOURCE
    + """
import json, subprocess, sys
def route(address):
    run = subprocess.run(["ip", "route", "get", address], capture_output=True, text=True)
    return run.stdout + run.stderr
internet, host_port, host_ips = json.loads(sys.argv[1])
print(json.dumps({
    "internet": ask(internet, 8080),
    "gateway": ask("10.0.2.2", host_port),
    "loopback": ask("127.0.0.1", host_port),
    "host": {ip: ask(ip, host_port) for ip in host_ips},
    "private": route("10.1.2.3"),
    "allowed": route("10.9.8.7"),
    "resolv": open("/etc/resolv.conf").read(),
}))
"""
)


async def test_egress_reaches_the_internet_and_nothing_of_the_hosts(
    backend: BwrapBackend, tmp_path: Path, internet: Internet, host_service: int
) -> None:
    host_ips = [str(net.network_address) for net in host_addresses() if not net.is_loopback]
    argument = json.dumps([internet.address, host_service, host_ips])
    with open(tmp_path / "out.txt", "w+b") as out:
        spec = SandboxSpec(
            sandbox_id="egress",
            argv=(PYTHON, "-I", "-S", "-c", textwrap.dedent(PROBE), argument),
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
            mounts=(Mount(PREFIX, str(PREFIX)),),
            memory_mb=128,
            ephemeral_storage_mb=16,
            work_dir=tmp_path / "work",
            network="egress",
            stdout_fd=out.fileno(),
            stderr_fd=out.fileno(),
            cwd="/",
        )
        sb = await backend.start(spec)
        with anyio.fail_after(60):
            status = await sb.wait()
        await sb.destroy("done")
    text = (tmp_path / "out.txt").read_text()
    assert status.returncode == 0, text
    got: dict[str, Any] = json.loads(text)
    assert got["internet"] == "from the internet"
    # slirp's way to the host's loopback is closed: no connection, no answer.
    assert got["gateway"].split(":")[0].endswith("Error"), got["gateway"]
    assert got["loopback"].startswith("ConnectionRefusedError")  # the sandbox's own loopback
    assert got["host"] == {ip: "PermissionError: Permission denied" for ip in host_ips}
    assert "prohibit" in got["private"] or "Permission denied" in got["private"]
    assert "via 10.0.2.2" in got["allowed"]
    assert got["resolv"] == "nameserver 10.0.2.3\n"
