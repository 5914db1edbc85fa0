"""Exactly-once appends to an append-only `ops` table, safe under concurrent writers."""

from __future__ import annotations

import logging

import pyarrow as pa
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import BooleanExpression
from pyiceberg.table import Table

from dagster_project.errors import EnvironmentFailure
from dagster_project.lakehouse.branches import single_attempt

log = logging.getLogger(__name__)
APPEND_ATTEMPTS = 10


def append_once(table: Table, rows: pa.Table, *, id_column: str, scope: BooleanExpression) -> int:
    """Append the rows whose id is not in the table yet, safe under concurrent writers.

    Optimistic concurrency: read the ids present (only rows matching `scope`, to keep the scan
    small), append the others in one commit tried once, and on a concurrent commit read again.
    pyiceberg's own retry would re-append on top of the other writer's rows, so it is off.

    Args:
        table: An append-only table with a string id column.
        rows: Rows to add, in the table's Arrow schema.
        id_column: The column that identifies a row.
        scope: A filter that matches every existing row that may share an id with `rows`.

    Returns:
        How many rows were appended.

    Raises:
        EnvironmentFailure: Other writers kept committing (the run fails and retries).
    """
    for attempt in range(1, APPEND_ATTEMPTS + 1):
        table.refresh()
        present: set[str] = set()
        if table.current_snapshot() is not None:
            existing = table.scan(row_filter=scope, selected_fields=(id_column,)).to_arrow()
            present = set(existing[id_column].to_pylist())
        wanted = [i not in present for i in rows[id_column].to_pylist()]
        todo = rows.filter(pa.array(wanted, pa.bool_()))
        if todo.num_rows == 0:
            return 0
        try:
            single_attempt(table).append(todo)
        except CommitFailedException as exc:
            log.info("%s: append conflicted (attempt %d): %s", ".".join(table.name()), attempt, exc)
            continue
        table.refresh()
        return todo.num_rows
    raise EnvironmentFailure(
        f"{'.'.join(table.name())}: other writers kept committing during {APPEND_ATTEMPTS} attempts; "
        "retry the run"
    )
