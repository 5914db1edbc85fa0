"""Time travel for governed queries: which snapshot of each table `--as-of` means.

Only snapshots that were on main are reachable: a batch held back on an audit branch failed its
checks (or its run never finished), so it is readable only by a persona with `read_held: true`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import ancestors_of

from dagster_project.errors import FoundationError
from dagster_project.governance.policy import QueryDenied


class AsOfError(FoundationError, LookupError):
    """--as-of names no snapshot a table of the statement had (never, or expired)."""


class HeldSnapshotDenied(QueryDenied):
    """--as-of names a snapshot that was never on main, and the persona may not read held batches."""


def main_snapshot_ids(table: Table) -> set[int]:
    """Snapshots that were on main: main's ancestry and every snapshot main pointed to (its log)."""
    ids = {entry.snapshot_id for entry in table.metadata.snapshot_log}
    ref = table.metadata.refs.get(MAIN_BRANCH)
    head = table.metadata.snapshot_by_id(ref.snapshot_id) if ref else None
    if head is not None:
        ids |= {snapshot.snapshot_id for snapshot in ancestors_of(head, table.metadata)}
    return ids


def _check_on_main(name: str, table: Table, snapshot_id: int, persona: str) -> None:
    if snapshot_id in main_snapshot_ids(table):
        return
    branches = sorted(b for b, ref in table.metadata.refs.items() if ref.snapshot_id == snapshot_id)
    where = f"held on {', '.join(branches)}" if branches else "left by a batch that never reached main"
    raise HeldSnapshotDenied(
        f"snapshot {snapshot_id} of {name} was never on main ({where}); persona {persona!r} may read "
        "only what was published (read_held in the personas file allows held batches); "
        "`foundation history` lists main's snapshots"
    )


def _parse_as_of(as_of: str) -> int | datetime:
    if re.fullmatch(r"-?\d+", as_of.strip()):
        return int(as_of)
    try:
        moment = datetime.fromisoformat(as_of.strip())
    except ValueError as exc:
        raise AsOfError(
            f"--as-of {as_of!r} is neither a snapshot id nor an ISO timestamp like 2026-11-22T10:00:00Z"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def resolve_snapshots(
    tables: Mapping[str, Table], as_of: str | None, *, persona: str = "", read_held: bool = False
) -> dict[str, int | None]:
    """The snapshot each table is read at: main's head, the given snapshot, or the one current at a time.

    Args:
        tables: The statement's tables by name.
        as_of: None (main's head), a snapshot id, or an ISO timestamp (main as it was then).
        persona: Who reads, for the message of a refusal.
        read_held: Whether a snapshot id may name a snapshot that was never on main.

    Raises:
        AsOfError: The snapshot id belongs to none of the tables; a table had no snapshot at the
            time, or that snapshot was expired.
        HeldSnapshotDenied: The snapshot was never on main and `read_held` is false.
    """
    heads = {
        name: (t.metadata.refs["main"].snapshot_id if "main" in t.metadata.refs else None)
        for name, t in tables.items()
    }
    if as_of is None:
        return heads
    wanted = _parse_as_of(as_of)
    if isinstance(wanted, int):
        owners = [name for name, t in tables.items() if t.metadata.snapshot_by_id(wanted) is not None]
        if not tables:
            raise AsOfError(
                f"--as-of {wanted}: the query reads no table; drop --as-of or select from a table"
            )
        if not owners:
            raise AsOfError(
                f"snapshot {wanted} belongs to none of the tables the query reads, "
                f"{', '.join(sorted(tables))} (never, or expired); "
                "list them with `foundation history <table>`"
            )
        if not read_held:
            for name in owners:
                _check_on_main(name, tables[name], wanted, persona)
        return {**heads, **dict.fromkeys(owners, wanted)}
    millis = int(wanted.timestamp() * 1000)
    found: dict[str, int | None] = {}
    for name, table in tables.items():
        entries = [e for e in table.metadata.snapshot_log if e.timestamp_ms <= millis]
        if not entries:
            first = table.metadata.snapshot_log[0].timestamp_ms if table.metadata.snapshot_log else None
            since = f"; its first snapshot is from {_iso(first)}" if first else ""
            raise AsOfError(f"{name} had no snapshot at {wanted.isoformat()}{since}")
        snapshot_id = entries[-1].snapshot_id
        if table.metadata.snapshot_by_id(snapshot_id) is None:
            raise AsOfError(
                f"{name}: snapshot {snapshot_id}, current at {wanted.isoformat()}, was expired; "
                "pick a later time (see `foundation history`)"
            )
        found[name] = snapshot_id
    return found


def _iso(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).isoformat(timespec="seconds")
