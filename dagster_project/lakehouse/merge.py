"""Write-Audit-Publish of changed rows: upsert by key (or replace all) on an audit branch, audit, publish."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import NoSuchTableError, ResolveError, TableAlreadyExistsError
from pyiceberg.expressions import AlwaysFalse, AlwaysTrue, And, BooleanExpression, In, IsNull, Or
from pyiceberg.table import Table

from dagster_project.lakehouse.branches import main_head, owner_properties
from dagster_project.lakehouse.tables import ensure_namespace
from dagster_project.lakehouse.wap import (
    AuditFailed,
    Verdict,
    audit_branch,
    audited_publish,
    branch_commit,
)

# Replacing the rows of a table that has none (a model that wrote nothing last time) is an overwrite
# whose delete matches nothing: pyiceberg warns on stderr for every such publish, though nothing is wrong.
warnings.filterwarnings("ignore", message="Delete operation did not match any records", category=UserWarning)

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
    """The Iceberg table of a dbt model, created from its Arrow schema; new columns added by name and
    types widened where Iceberg can (a decimal's precision, int to long). A change it cannot take in
    place (a decimal's scale, text to number) is left to `merge_audit_publish` (see `replace_all`)."""
    schema = _nullable(schema)
    try:
        table = catalog.load_table(identifier)
    except NoSuchTableError:
        ensure_namespace(catalog, identifier.split(".")[0])
        try:
            return catalog.create_table(identifier, schema=schema, properties={"format-version": "2"})
        except TableAlreadyExistsError:
            table = catalog.load_table(identifier)
    if _changes_in_place(table, schema):
        try:
            with table.update_schema() as update:
                update.union_by_name(schema)
        except (ValueError, ResolveError):
            pass  # an incompatible change: the caller replaces the table's rows and types at once
    return table


def _changes_in_place(table: Table, schema: pa.Schema) -> bool:
    current = table.schema().as_arrow()
    return any(
        name not in current.names or current.field(name).type != schema.field(name).type
        for name in schema.names
    )


def _fits(table: Table, schema: pa.Schema) -> bool:
    """Whether rows of `schema` can be written to the table as its columns are now (cast safely)."""
    current = table.schema().as_arrow()
    for name in schema.names:
        if name not in current.names:
            return False
        try:
            pa.array([], schema.field(name).type).cast(current.field(name).type, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return False
        wanted, have = schema.field(name).type, current.field(name).type
        if pa.types.is_decimal(wanted) and pa.types.is_decimal(have) and wanted.scale != have.scale:
            return False
    return True


def replace_all(
    table: Table, rows: pa.Table, *, run_id: str, audit: RowsAudit, summary: dict[str, str]
) -> MergeResult:
    """Replace every row and the column types at once, when the model's new types do not fit the table.

    After `foundation rebuild` changed a raw column in a way Iceberg cannot take in place (a decimal's
    scale), the full refresh of its models produces the new types too; a model that no longer selects
    a column (one since declared PII) must not keep it. The rows are audited first
    (the model's audit judges the rows themselves), then one commit changes the types, drops the
    columns the model no longer has and writes the rows: readers see the old table or the new one,
    and older snapshots keep their own schema (`--as-of` reads them as they were).
    """
    rows = rows.cast(_nullable(rows.schema))
    # The audit reads the table as it would become (`against_table` expectations): these rows, in a
    # scratch table of their own types beside it, dropped whatever the verdict.
    namespace, name = table.name()[-2], table.name()[-1]
    scratch_name = f"{namespace}.{name}__replace_{run_id.replace('-', '_')[:40]}"
    catalog = table.catalog
    if catalog.table_exists(scratch_name):
        catalog.purge_table(scratch_name)
    scratch = catalog.create_table(scratch_name, schema=rows.schema, properties={"format-version": "2"})
    try:
        scratch.append(rows)
        verdict = audit(scratch, audit_branch(run_id), main_head(scratch) or 0)
    finally:
        catalog.purge_table(scratch_name)
    if not verdict.passed:
        raise AuditFailed(f"{'.'.join(table.name())}: main is unchanged: {verdict.reason}", "", 0)
    properties = {**summary, **owner_properties()}
    current = table.schema().as_arrow()
    with table.transaction() as tx:
        with tx.update_schema(allow_incompatible_changes=True) as update:
            for name in current.names:
                if name not in rows.schema.names:
                    update.delete_column(name)
                elif current.field(name).type != rows.schema.field(name).type:
                    update.delete_column(name)
        with tx.update_schema() as update:
            update.union_by_name(rows.schema)
        tx.overwrite(rows, AlwaysTrue(), snapshot_properties=properties)
    table.refresh()
    head = main_head(table)
    assert head is not None
    return MergeResult(head, "", 0, rows.num_rows)


def key_filter(rows: pa.Table, key: Sequence[str]) -> BooleanExpression:
    """Matches the table's rows that share a one-column key with `rows` (what an upsert replaces)."""
    values = {v for v in rows[key[0]].to_pylist() if v is not None}
    return In(key[0], values) if values else AlwaysFalse()


def upsert(
    table: Table, rows: pa.Table, key: Sequence[str], base: int | None
) -> tuple[BooleanExpression, pa.Table]:
    """What an upsert of `rows` by `key` overwrites (a filter) and writes (rows), at snapshot `base`.

    One column: the rows whose key is among the new keys, replaced by the new rows. A composite key
    cannot be matched as one `a = x AND b = y` term per row: pyiceberg visits expressions
    recursively (a thousand terms overflow Python's stack) and evaluates every term on every row.
    So the filter is a superset, each key column `IN` its new values, and the rows it takes that
    do not share a whole key with the new rows are written back unchanged. As in staging's
    deduplication, a missing key part matches a missing one.
    """
    if len(key) == 1:
        return key_filter(rows, key), rows
    keys = {tuple(r[k] for k in key) for r in rows.select(list(key)).to_pylist()}
    if not keys:
        return AlwaysFalse(), rows
    superset = _balanced(And, [_among(column, {k[i] for k in keys}) for i, column in enumerate(key)])
    if base is None:
        return superset, rows
    taken = table.scan(row_filter=superset, snapshot_id=base).to_arrow()
    if taken.num_rows == 0:
        return superset, rows
    # Compared as the new rows' types (a model's Arrow types may differ slightly from Iceberg's).
    compared = taken.select(list(key)).cast(rows.select(list(key)).schema)
    kept = pa.array([k not in keys for k in zip(*(compared[c].to_pylist() for c in key), strict=True)])
    others = taken.filter(kept)
    shared = [c for c in others.column_names if c in rows.column_names]
    others = others.cast(
        pa.schema(
            [rows.schema.field(c) if c in shared else others.schema.field(c) for c in others.column_names]
        )
    )
    return superset, pa.concat_tables([rows, others], promote_options="default")


def _among(column: str, values: set) -> BooleanExpression:
    present = {v for v in values if v is not None}
    found: list[BooleanExpression] = [In(column, present)] if present else []
    return _balanced(Or, found + ([IsNull(column)] if None in values else []))


def _balanced(op: type, terms: list[BooleanExpression]) -> BooleanExpression:
    """`op` over the terms as a tree of depth log2(n), not a chain of depth n."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return op(_balanced(op, terms[:middle]), _balanced(op, terms[middle:]))


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
    dropped = set(table.schema().column_names) - set(rows.schema.names)
    if key is None and (dropped or not _fits(table, rows.schema)):
        # Every row is replaced: the table takes the model's columns as they are now (a column the
        # model no longer selects, e.g. one since declared PII, is not kept, empty or not).
        return replace_all(table, rows, run_id=run_id, audit=audit, summary=summary)
    rows = rows.cast(_nullable(rows.schema))
    properties = {**summary, **owner_properties()}

    def write(branch: str, base: int) -> int:
        # Worked out again on each try: what a composite key keeps depends on main at `base`.
        overwrite_filter, written = upsert(table, rows, key, base) if key else (AlwaysTrue(), rows)
        return branch_commit(
            table,
            branch,
            base,
            lambda tx: tx.overwrite(written, overwrite_filter, snapshot_properties=properties, branch=branch),
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
