"""One isolated execution environment's isolation: namespaces, cgroups, mounts, /tmp.

Public names only; see `base.py` for the Sandbox contract.
"""

from lambdad.sandbox.backend import BwrapBackend, bwrap_works, select_backend
from lambdad.sandbox.base import (
    MB_PER_VCPU,
    ChildRoot,
    ExitStatus,
    Forward,
    Mount,
    NetworkMode,
    Sandbox,
    SandboxBackend,
    SandboxError,
    SandboxSpec,
)
from lambdad.sandbox.bwrap import build_bwrap_argv
from lambdad.sandbox.egress import EgressPolicy, parse_allowed
from lambdad.sandbox.forwarding import PortForwarder
from lambdad.sandbox.process import ProcessBackend
from lambdad.sandbox.restore import FORK_TIMEOUT_S, Forked, HostEnds
from lambdad.sandbox.rlimits import raise_open_files_limit
from lambdad.sandbox.shared_files import SharedFiles, reachable_by_others, shared_files

__all__ = [
    "FORK_TIMEOUT_S",
    "Forked",
    "HostEnds",
    "MB_PER_VCPU",
    "BwrapBackend",
    "ChildRoot",
    "EgressPolicy",
    "ExitStatus",
    "Forward",
    "Mount",
    "NetworkMode",
    "PortForwarder",
    "ProcessBackend",
    "Sandbox",
    "SandboxBackend",
    "SandboxError",
    "SandboxSpec",
    "SharedFiles",
    "build_bwrap_argv",
    "parse_allowed",
    "raise_open_files_limit",
    "bwrap_works",
    "reachable_by_others",
    "select_backend",
    "shared_files",
]
