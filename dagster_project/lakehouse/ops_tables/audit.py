"""The audit log, Iceberg `ops.audit_log`: who read or published what, as whom, when, at which snapshots."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import And, EqualTo, In
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import LongType, NestedField, StringType, TimestamptzType

from dagster_project import faults
from dagster_project.identity import current_identity
from dagster_project.lakehouse.ops_tables.append import append_once
from dagster_project.lakehouse.publish import RUN_PROPERTY, publish_points
from dagster_project.lakehouse.tables import ensure_table
from dagster_project.settings import Settings

log = logging.getLogger(__name__)

AUDIT_TABLE = "ops.audit_log"
AUDIT_SCHEMA = Schema(
    NestedField(1, "event_id", StringType(), required=False, doc="Unique id of the event."),
    NestedField(2, "event_time", TimestamptzType(), required=False, doc="When it happened (UTC)."),
    NestedField(3, "actor", StringType(), required=False, doc="OS account, or the user a service bound."),
    NestedField(4, "persona", StringType(), required=False, doc="Persona of a query; empty for publishes."),
    NestedField(
        5,
        "action",
        StringType(),
        required=False,
        doc="query, query_denied, query_rejected, query_failed, publish, rebuild, maintenance.",
    ),
    NestedField(6, "tables", StringType(), required=False, doc="Tables read or written (JSON list)."),
    NestedField(7, "statement", StringType(), required=False, doc="A query's SQL; what a publish wrote."),
    NestedField(
        8, "snapshot_ids", StringType(), required=False, doc="Snapshot read or written per table (JSON)."
    ),
    NestedField(9, "run_id", StringType(), required=False, doc="Dagster run of a publish."),
    NestedField(10, "rows", LongType(), required=False, doc="Rows returned or written."),
    NestedField(11, "outcome", StringType(), required=False, doc="ok, denied, refused, error or limit."),
    NestedField(12, "message", StringType(), required=False, doc="Why it was denied or failed."),
)
# Several runs may append at once: pyiceberg retries an append on a commit conflict (appends
# never conflict with each other), so give it room beyond its default of 4.
AUDIT_PROPERTIES = {"format-version": "2", "commit.retry.num-retries": "10"}


@dataclass(frozen=True)
class AuditEvent:
    """One audited action: a query (allowed, denied or failed) or a publish to main."""

    action: str
    tables: Sequence[str]
    snapshot_ids: Mapping[str, int | None] = field(default_factory=dict)
    persona: str | None = None
    statement: str = ""
    run_id: str | None = None
    rows: int | None = None
    outcome: str = "ok"
    message: str = ""


def actor(settings: Settings) -> str:
    """Who the log names: the identity a service bound (`identity.acting_as`), else the OS account.

    Never a setting or an environment variable (USER, LOGNAME, the former FOUNDATION_ACTOR): whoever
    starts a process can set those to anything. `settings` stays in the signature for callers.
    """
    return current_identity()


def record(catalog: Catalog, settings: Settings, events: Sequence[AuditEvent]) -> bool:
    """Append events to `ops.audit_log` in one commit; a failure logs a warning and never raises.

    A publish that already reached main must not look failed because its audit record could not
    be written, so the caller carries on and the warning says what is missing.

    Args:
        catalog: The Iceberg catalog.
        settings: For the actor.
        events: What to record (nothing happens for an empty list).

    Returns:
        Whether the events were written.
    """
    if not events:
        return True
    now, who = datetime.now(UTC), actor(settings)
    rows = [
        {
            **{k: v for k, v in asdict(e).items() if k not in ("tables", "snapshot_ids")},
            "event_id": _event_id(e),
            "event_time": now,
            "actor": who,
            "tables": json.dumps(list(e.tables)),
            "snapshot_ids": json.dumps(dict(e.snapshot_ids), sort_keys=True),
        }
        for e in events
    ]
    # A publish has a deterministic id (table and snapshot), so that a rerun, or the next run
    # recording what a crashed one could not (record_missing_publishes), never logs it twice.
    publish_ids = sorted(r["event_id"] for r in rows if r["event_id"].startswith("publish:"))
    faults.reached("audit_log.before_append")
    try:
        table = ensure_table(catalog, AUDIT_TABLE, AUDIT_SCHEMA, properties=AUDIT_PROPERTIES)
        batch = pa.Table.from_pylist(rows, schema=table.schema().as_arrow())
        if publish_ids:
            append_once(table, batch, id_column="event_id", scope=In("event_id", publish_ids))
        else:
            table.append(batch)
    except Exception as exc:  # noqa: BLE001 - the audited action stands; say loudly what was not logged
        log.warning(
            "%s: could not record %d event(s) (%s): %s; the action itself is done",
            AUDIT_TABLE,
            len(rows),
            ", ".join(sorted({e.action for e in events})),
            exc,
        )
        return False
    faults.reached("audit_log.appended")
    return True


def publish_event_id(table: str, snapshot_id: int) -> str:
    """The audit log's id of the publish that moved `table`'s main to `snapshot_id`: one event per publish."""
    return f"publish:{table}:{snapshot_id}"


def _event_id(event: AuditEvent) -> str:
    snapshot = event.snapshot_ids.get(event.tables[0]) if len(event.tables) == 1 else None
    if event.action == "publish" and event.outcome == "ok" and snapshot is not None:
        return publish_event_id(event.tables[0], snapshot)
    return uuid.uuid4().hex


def record_missing_publishes(catalog: Catalog, settings: Settings, table: Table, *, limit: int = 100) -> int:
    """Record the publish events main's latest publishes lack (a run stopped between publish and log).

    Walks main's publishes from the head back to the first one the audit log has (at most
    `limit`), and records the missing ones, oldest first, under the publishing run's id. Never
    raises (see `record`).

    Returns:
        How many events were missing.
    """
    name = ".".join(table.name())
    try:
        points = publish_points(table, limit)
        if not points:
            return 0
        recorded: set[int] = set()
        if catalog.table_exists(AUDIT_TABLE):
            log_table = catalog.load_table(AUDIT_TABLE)
            if log_table.current_snapshot() is not None:
                logged = log_table.scan(
                    # A rebuild's swap is a publish too, logged under its own action.
                    row_filter=And(
                        In("action", ["publish", "rebuild"]), EqualTo("tables", json.dumps([name]))
                    ),
                    selected_fields=("snapshot_ids",),
                ).to_arrow()
                for ids in logged["snapshot_ids"].to_pylist():
                    recorded |= {v for v in json.loads(ids or "{}").values() if v is not None}
    except Exception as exc:  # noqa: BLE001 - see record()
        log.warning("%s: could not check the publish events of %s: %s", AUDIT_TABLE, name, exc)
        return 0
    missing = []
    for snapshot in points:
        if snapshot.snapshot_id in recorded:
            break
        missing.append(snapshot)
    events = []
    for snapshot in reversed(missing):
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        added = snapshot.summary.get("added-records") if snapshot.summary else None
        events.append(
            AuditEvent(
                "publish",
                [name],
                {name: snapshot.snapshot_id},
                statement=f"publish of run {summary.get(RUN_PROPERTY)} to {name}",
                run_id=summary.get(RUN_PROPERTY),
                rows=int(added) if added is not None else None,
                message="recorded by a later run: the publishing run stopped before its audit record",
            )
        )
    if events:
        record(catalog, settings, events)
    return len(events)


def record_safely(settings: Settings, events: Sequence[AuditEvent], catalog: Catalog | None = None) -> bool:
    """`record`, opening the catalog first if needed (also never raises)."""
    try:
        if catalog is None:
            from dagster_project.lakehouse.tables import open_catalog

            catalog = open_catalog(settings)
    except Exception as exc:  # noqa: BLE001 - see record()
        log.warning("%s: catalog unavailable, %d event(s) not recorded: %s", AUDIT_TABLE, len(events), exc)
        return False
    return record(catalog, settings, events)


def read_audit_log(catalog: Catalog) -> pa.Table:
    """Every audit event (empty when nothing was recorded yet)."""
    if not catalog.table_exists(AUDIT_TABLE):
        return AUDIT_SCHEMA.as_arrow().empty_table()
    table = catalog.load_table(AUDIT_TABLE)
    if table.current_snapshot() is None:
        return AUDIT_SCHEMA.as_arrow().empty_table()
    return table.scan().to_arrow()
