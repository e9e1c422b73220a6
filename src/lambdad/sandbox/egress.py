"""Network mode `egress`: outbound connections to the internet, and nothing of the host's.

A sandbox in mode egress has the network namespace its launcher made (like
mode none, with the same forwards), plus slirp4netns (Debian's package):
user-mode networking that turns the sandbox's TCP/UDP into ordinary sockets
of the host's network, IPv4 only. Its lifetime is one fd of ours (`--exit-fd`):
closed at destroy, or when the server dies, and it exits.

What the sandbox may reach is decided by routes in its namespace, which it
cannot change (the namespace belongs to the host's user namespace, the
sandbox has no capabilities): `prohibit` routes for the host's loopback and
private ranges (RFC 1918, carrier-grade NAT, link-local, multicast, reserved)
and each of the host's own addresses, and a route through slirp for what the
operator allows (`EgressPolicy.allowed`, which may cut holes in those). The
host's loopback is also closed inside slirp (`--disable-host-loopback`), so
its gateway address leads nowhere.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import select
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from lambdad.sandbox.base import SandboxError

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network

SLIRP_CIDR = Network("10.0.2.0/24")
"""slirp4netns's own network inside the sandbox: its gateway .2, its DNS .3, the sandbox .100."""
SLIRP_GATEWAY = "10.0.2.2"
SLIRP_DNS = "10.0.2.3"
BLOCKED_RANGES = tuple(
    Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
READY_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class EgressPolicy:
    allowed: tuple[Network, ...] = ()
    """Ranges the operator lets egress sandboxes reach although they are blocked."""
    host_addresses: tuple[Network, ...] = ()
    """The host's own addresses (/32 each): blocked like its loopback."""


def parse_allowed(entries: str) -> tuple[Network, ...]:
    """Comma-separated IPv4 CIDRs (or addresses); raises ValueError on a bad one."""
    return tuple(Network(e.strip(), strict=False) for e in entries.split(",") if e.strip())


def route_commands(policy: EgressPolicy) -> list[str]:
    """`ip -batch` lines for the sandbox's namespace (pure; see the module doc)."""
    blocked: list[Network] = []
    for net in (*BLOCKED_RANGES, *policy.host_addresses):
        # A range the operator allows whole is not blocked; one allowed in part is,
        # and the allowed part gets a more specific route below.
        allowed = any(net.subnet_of(ok) for ok in policy.allowed)
        if not allowed and not any(net.subnet_of(b) for b in blocked):
            blocked.append(net)
    lines = [f"route add prohibit {net}" for net in blocked]
    lines += [f"route add {net} via {SLIRP_GATEWAY}" for net in policy.allowed]
    return lines


@lru_cache(maxsize=1)
def host_addresses() -> tuple[Network, ...]:
    """The host's IPv4 addresses, each as a /32 (read once, with iproute2)."""
    ip = shutil.which("ip")
    if ip is None:
        return ()
    try:
        out = subprocess.run(
            [ip, "-j", "-4", "addr", "show"], check=True, capture_output=True, timeout=10
        ).stdout
        links = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        log.warning("sandbox: cannot list the host's addresses: %s", e)
        return ()
    found = {
        Network(f"{info['local']}/32")
        for link in links
        for info in link.get("addr_info", ())
        if info.get("family") == "inet" and "local" in info
    }
    return tuple(sorted(found))


def egress_tools() -> tuple[str, str, str] | None:
    """(slirp4netns, nsenter, ip) if all are installed, else None."""
    found = [shutil.which(name) for name in ("slirp4netns", "nsenter", "ip")]
    if any(path is None for path in found):
        return None
    slirp, nsenter, ip = found
    assert slirp and nsenter and ip
    return slirp, nsenter, ip


class Egress:
    """One sandbox's slirp4netns; `close()` (idempotent, blocking) makes it exit."""

    def __init__(self, proc: subprocess.Popen[bytes], exit_fd: int) -> None:
        self._proc = proc
        self._exit_fd: int | None = exit_fd

    @classmethod
    def connect(cls, pid: int, policy: EgressPolicy, tools: tuple[str, str, str]) -> Egress:
        """Give the network namespace of process `pid` its way out (blocking)."""
        slirp, nsenter, ip = tools
        netns = f"/proc/{pid}/ns/net"
        ready_r, ready_w = os.pipe()
        exit_r, exit_w = os.pipe()
        try:
            proc = subprocess.Popen(
                [slirp, "--configure", "--mtu=65520", "--disable-host-loopback",
                 "--enable-sandbox", "--enable-seccomp", f"--ready-fd={ready_w}",
                 f"--exit-fd={exit_r}", "--netns-type=path", netns, "tap0"],
                pass_fds=(ready_w, exit_r),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        except OSError as e:
            for fd in (ready_r, ready_w, exit_r, exit_w):
                os.close(fd)
            raise SandboxError(f"cannot start slirp4netns: {e}") from e
        os.close(ready_w)
        os.close(exit_r)
        egress = cls(proc, exit_w)
        try:
            # poll, not select: a server with thousands of environments has fds past 1,023.
            ready = select.poll()
            ready.register(ready_r, select.POLLIN)
            readable = ready.poll(READY_TIMEOUT_S * 1000)
            if not readable or os.read(ready_r, 1) != b"1":
                raise SandboxError(f"slirp4netns did not get ready (exit {proc.poll()})")
            routes = "".join(f"{line}\n" for line in route_commands(policy)).encode()
            subprocess.run(
                [nsenter, f"--net={netns}", ip, "-batch", "-"],
                input=routes, check=True, capture_output=True, timeout=READY_TIMEOUT_S,
            )  # fmt: skip
        except BaseException as e:
            egress.close()
            if isinstance(e, subprocess.CalledProcessError):
                raise SandboxError(f"cannot route the sandbox's egress: {e.stderr!r}") from e
            raise
        finally:
            os.close(ready_r)
        return egress

    def close(self) -> None:
        if self._exit_fd is not None:
            os.close(self._exit_fd)
            self._exit_fd = None
        try:
            self._proc.wait(timeout=READY_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def resolv_conf() -> str:
    """The sandbox's /etc/resolv.conf in mode egress: slirp's DNS forwarder."""
    return f"nameserver {SLIRP_DNS}\n"
