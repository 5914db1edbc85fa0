"""Write-Audit-Publish of changed rows: upsert by key (or replace all) on an audit branch, audit, publish."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError
from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, And, BooleanExpression, EqualTo, In, Or
from pyiceberg.table import Table

from dagster_project.lakehouse.branches import owner_properties
from dagster_project.lakehouse.tables import ensure_namespace
from dagster_project.lakehouse.wap import Verdict, audit_branch, audited_publish, branch_commit

# Decides on the rows as committed on `branch` (snapshot id given).
RowsAudit = Callable[[Table, str, int], Verdict]


@dataclass(frozen=True)
class MergeResult:
    """What a publish of changed rows did: main's new snapshot, the branch used, how often main moved."""

    snapshot_id: int
    branch: str
    rebases: int
    rows: int


def _nullable(schema: pa.Schema) -> pa.Schema:
    # DuckDB marks some columns NOT NULL; an Iceberg model table keeps every column optional so
    # that a later version of the model may produce nulls there.
    return pa.schema([f.with_nullable(True) for f in schema])


def ensure_model_table(catalog: Catalog, identifier: str, schema: pa.Schema) -> Table:
    """The Iceberg table of a dbt model, created from its Arrow schema, new columns added by name."""
    schema = _nullable(schema)
    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        ensure_namespace(catalog, identifier.split(".")[0])
        try:
            return catalog.create_table(identifier, schema=schema, properties={"format-version": "2"})
        except TableAlreadyExistsError:
            table = catalog.load_table(identifier)
    existing = {f.name for f in table.schema().fields}
    if any(name not in existing for name in schema.names):
        with table.update_schema() as update:
            update.union_by_name(schema)
    return table


def key_filter(rows: pa.Table, key: Sequence[str]) -> BooleanExpression:
    """Matches the table's rows that share a key with `rows` (what an upsert replaces)."""
    if len(key) == 1:
        values = {v for v in rows[key[0]].to_pylist() if v is not None}
        return In(key[0], values) if values else AlwaysFalse()
    conditions = [
        reduce(And, [EqualTo(k, v) for k, v in zip(key, values, strict=True)])
        for values in {tuple(r[k] for k in key) for r in rows.select(list(key)).to_pylist()}
    ]
    return reduce(Or, conditions) if conditions else AlwaysFalse()


def merge_audit_publish(
    table: Table,
    rows: pa.Table,
    *,
    key: Sequence[str] | None,
    run_id: str,
    audit: RowsAudit,
    summary: dict[str, str],
    max_rebases: int = 3,
) -> MergeResult:
    """Upsert `rows` by `key` (replace the whole table when `key` is None) through Write-Audit-Publish.

    The rows are committed to `audit-<run id>`, audited there, and main is fast-forwarded to the
    branch only if main did not move meanwhile; if it did, the upsert is re-applied on the new main
    (an upsert by key is idempotent) and audited again.

    Args:
        table: The model's table.
        rows: The model's rows written by this run.
        key: The unique key; None replaces every row.
        run_id: The Dagster run (branch name).
        audit: Decides on the rows as committed on the branch.
        summary: Extra snapshot summary properties (watermarks, run id).
        max_rebases: How often main may move under the audit before giving up.

    Returns:
        main's new snapshot.

    Raises:
        AuditFailed: The audit said no; main is untouched and the branch is kept.
        PublishError: main kept moving.
    """
    overwrite_filter = key_filter(rows, key) if key else AlwaysTrue()
    rows = rows.cast(_nullable(rows.schema))
    properties = {**summary, **owner_properties()}

    def write(branch: str, base: int) -> int:
        return branch_commit(
            table,
            branch,
            base,
            lambda tx: tx.overwrite(rows, overwrite_filter, snapshot_properties=properties, branch=branch),
        )

    head, rebases = audited_publish(
        table,
        run_id,
        write=write,
        audit=lambda branch, head: audit(table, branch, head),
        what="rows",
        max_rebases=max_rebases,
    )
    assert head is not None
    return MergeResult(head, audit_branch(run_id), rebases, rows.num_rows)
