"""Who is asking: the OS account running this process, or the identity a service bound to a request.

The audit log and the personas' `identities` use this, never an environment variable (USER,
LOGNAME or a FOUNDATION_* variable can be set to anything by whoever starts the process).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from dagster_project.settings import Settings

# Tokens of a persona's `identities` list besides account names.
ANYONE = "*"
OWNER = "owner"  # the OS account that owns the data directory

_bound: ContextVar[str | None] = ContextVar("foundation_identity", default=None)


def account_name(uid: int) -> str:
    """The account name of `uid`, or `uid:<n>` when the passwd database has no entry (some containers)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def os_account() -> str:
    """The OS account this process runs as (from its real uid, not from USER or LOGNAME)."""
    return account_name(os.getuid())


def current_identity() -> str:
    """The identity bound by `acting_as` in this context, else the OS account."""
    return _bound.get() or os_account()


@contextmanager
def acting_as(identity: str) -> Iterator[None]:
    """Name `identity` as who acts, for governed queries and audit records inside the block.

    A service that authenticates its users binds the authenticated user here for each request
    (tests bind made-up users); nothing outside Python code can choose it.

    Args:
        identity: An account or user name, as a persona's `identities` list names it.
    """
    if not identity or not identity.strip():
        raise ValueError("an identity is a non-empty name")
    token = _bound.set(identity.strip())
    try:
        yield
    finally:
        _bound.reset(token)


def data_dir_owner(settings: Settings) -> str:
    """The account owning the data directory (the nearest existing parent while it does not exist yet)."""
    path = Path(settings.data_dir)
    while not path.exists() and path.parent != path:
        path = path.parent
    return account_name(path.stat().st_uid)
