"""Named crash points of the write paths, so that tests can stop a process exactly there.

Production code calls `reached(point)` at each step boundary (after staging, after the branch
commit, before the publish, ...). It does nothing unless a test installed a hook, typically one
that kills the process with SIGKILL, to prove that a rerun recovers from a crash at that point.
"""

from __future__ import annotations

from collections.abc import Callable

_hooks: list[Callable[[str], None]] = []


def reached(point: str) -> None:
    """Called by the write paths at a step boundary named `point`."""
    for hook in list(_hooks):
        hook(point)


def install(hook: Callable[[str], None]) -> Callable[[], None]:
    """Call `hook(point)` at every crash point until the returned function is called."""
    _hooks.append(hook)
    return lambda: _hooks.remove(hook)
