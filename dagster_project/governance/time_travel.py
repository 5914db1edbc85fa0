"""Time travel for governed queries: which snapshot of each table `--as-of` means."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime

from pyiceberg.table import Table

from dagster_project.errors import FoundationError


class AsOfError(FoundationError, LookupError):
    """--as-of names no snapshot a table of the statement had (never, or expired)."""


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


def resolve_snapshots(tables: Mapping[str, Table], as_of: str | None) -> dict[str, int | None]:
    """The snapshot each table is read at: main's head, the given snapshot, or the one current at a time.

    Raises:
        AsOfError: The snapshot id belongs to none of the tables; a table had no snapshot at the
            time, or that snapshot was expired.
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
        if not owners:
            raise AsOfError(
                f"snapshot {wanted} belongs to none of {', '.join(sorted(tables))} (never, or expired); "
                "list them with `foundation history <table>`"
            )
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
