"""The two kinds of failure every layer shares: a mistake a user can fix, and the environment failing.

Callers catch these as one thing each: the CLI prints a `FoundationError` as one line (no
traceback); an `EnvironmentFailure` fails the run so that Dagster retries it, and is never a
reason to quarantine a file.
"""

from __future__ import annotations


class FoundationError(Exception):
    """A user's mistake (configuration, input, a command's arguments); the message says what to do.

    The CLI prints it as one line, `<kind>: <message>`, and exits with `exit_code`.
    """

    kind = "error"
    exit_code = 2


class EnvironmentFailure(RuntimeError):
    """The machine or a service failed (disk, memory, permission, catalog, store): retry, never quarantine."""
