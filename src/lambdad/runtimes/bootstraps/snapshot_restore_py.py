"""SnapStart's runtime hooks for Python, as AWS's Python runtimes ship them.

Importable by every Python function (it is on the runtime's PYTHONPATH,
/var/runtime), so code written for SnapStart runs unchanged:

    from snapshot_restore_py import register_before_snapshot, register_after_restore

    @register_before_snapshot
    def close_connections(): ...

    register_after_restore(reconnect, "db", timeout=5)

Either form registers a callable with its arguments; the decorator form hands
the function back unchanged. A runtime that takes a snapshot runs the
before-snapshot hooks once, in the reverse order of their registration, and
the after-restore hooks in each restored environment, in their order. One
that takes none (an environment of this server: see lambdad's
`catalog.snapstart`) never calls them, as AWS never does without SnapStart.

Standalone and stdlib-free: it runs inside the sandbox, in the function's process.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]

_before_snapshot: list[Hook] = []
_after_restore: list[Hook] = []


def register_before_snapshot(
    func: Callable[..., Any], *args: Any, **kwargs: Any
) -> Callable[..., Any]:
    """Run `func(*args, **kwargs)` before the snapshot is taken; returns `func`."""
    _before_snapshot.append((func, args, kwargs))
    return func


def register_after_restore(
    func: Callable[..., Any], *args: Any, **kwargs: Any
) -> Callable[..., Any]:
    """Run `func(*args, **kwargs)` in each restored environment; returns `func`."""
    _after_restore.append((func, args, kwargs))
    return func


def get_before_snapshot() -> list[Hook]:
    """The registered before-snapshot hooks (the runtime's list: it pops them as it runs them)."""
    return _before_snapshot


def get_after_restore() -> list[Hook]:
    """The registered after-restore hooks, in their order."""
    return _after_restore
