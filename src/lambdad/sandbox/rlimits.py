"""The resource limits (rlimits) every sandbox starts with: those of a Lambda environment.

AWS documents two of them as quotas that cannot be raised: 1,024 file
descriptors and 1,024 processes/threads; inside a function `ulimit -n` and
`ulimit -u` say 1024, soft and hard. AWS does not document the others; they
are Linux's usual defaults, set explicitly so that a function never inherits
the server's own limits (e.g. a raised `ulimit -n` of the shell that started
it). Core dumps are off: a dump would go to the host's core handler, outside
the sandbox.

RLIMIT_NPROC counts the processes of a host uid, so it is per sandbox only
because each sandbox has a host uid of its own (see `host_ids.py`).
"""

from __future__ import annotations

import resource
from collections.abc import Mapping
from types import MappingProxyType

UNLIMITED = resource.RLIM_INFINITY

LAMBDA_RLIMITS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        # name after RLIMIT_: (soft, hard)
        "NOFILE": (1024, 1024),
        "NPROC": (1024, 1024),
        "STACK": (8 * 1024 * 1024, UNLIMITED),
        "MEMLOCK": (64 * 1024, 64 * 1024),
        "MSGQUEUE": (819_200, 819_200),
        "CORE": (0, 0),
        "CPU": (UNLIMITED, UNLIMITED),
        "FSIZE": (UNLIMITED, UNLIMITED),
        "DATA": (UNLIMITED, UNLIMITED),
        "AS": (UNLIMITED, UNLIMITED),
    }
)


def without(limits: Mapping[str, tuple[int, int]], *names: str) -> dict[str, tuple[int, int]]:
    return {name: value for name, value in limits.items() if name not in names}


def raise_open_files_limit() -> int:
    """Raise the server's soft RLIMIT_NOFILE to its hard limit; returns the soft limit now.

    Why: every warm environment holds fds in the server (its channel to init and a
    pidfd), so the soft limit most shells and service managers start with (1,024)
    would stop a server at a few hundred environments with EMFILE. Sandboxes never
    inherit the raised limit: each starts with `LAMBDA_RLIMITS`' 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == UNLIMITED:  # NOFILE may not be set past fs.nr_open
        try:
            with open("/proc/sys/fs/nr_open") as f:
                target = int(f.read())
        except (OSError, ValueError):
            return soft
    if soft != UNLIMITED and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return soft
        return target
    return soft
