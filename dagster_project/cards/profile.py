"""Column profile of an Iceberg table's snapshot, computed by DuckDB over a streamed scan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pyiceberg.table import Table
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    MapType,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
)

from dagster_project.settings import Settings

# A string or boolean column with at most this many distinct values is a category: its values
# are listed with their shares. Above it, strings are text and get length statistics instead.
CATEGORY_LIMIT = 20
TOP_CATEGORIES = 10
# Bounded cost: above this many rows the profile is computed on a uniform random sample of about
# this size (the scan still streams every row once; memory stays within DuckDB's limit).
MAX_PROFILED_ROWS = 1_000_000


@dataclass
class ColumnProfile:
    """What one column holds: nulls, distinct values, range, mean, categories or text lengths.

    `kind` is one of number, temporal, boolean, string, nested or other; nested columns (lists,
    vectors) get null and length statistics only.
    """

    name: str
    kind: str
    type: str
    nulls: int = 0
    distinct: int | None = None
    minimum: Any = None
    maximum: Any = None
    mean: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    mean_length: float | None = None
    categories: list[tuple[Any, int]] = field(default_factory=list)


@dataclass
class TableProfile:
    """The profile of one snapshot: row count, whether it was sampled, and every column."""

    table: str
    snapshot_id: int | None
    rows: int
    profiled_rows: int
    columns: list[ColumnProfile] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def sampled(self) -> bool:
        return self.profiled_rows < self.rows

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)

    def null_share(self, column: ColumnProfile) -> float:
        return column.nulls / self.profiled_rows if self.profiled_rows else 0.0


def _kind(kind: IcebergType) -> str:
    if isinstance(kind, IntegerType | LongType | FloatType | DoubleType | DecimalType):
        return "number"
    if isinstance(kind, DateType | TimestampType | TimestamptzType):
        return "temporal"
    if isinstance(kind, BooleanType):
        return "boolean"
    if isinstance(kind, StringType):
        return "string"
    if isinstance(kind, ListType | MapType | StructType):
        return "nested"
    return "other"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _aggregates(column: ColumnProfile) -> list[str]:
    """SQL aggregates of one column, all computed in the same pass over the profiled rows."""
    q = _quote(column.name)
    parts = [f"count(*) - count({q})"]
    if column.kind == "nested":
        return [*parts, f"min(len({q}))", f"max(len({q}))", f"avg(len({q}))"]
    parts.append(f"count(distinct {q})")
    if column.kind in ("number", "temporal"):
        parts += [f"min({q})", f"max({q})"]
    if column.kind == "number":
        parts.append(f"avg({q})")
    if column.kind == "string":
        parts += [f"min(length({q}))", f"max(length({q}))", f"avg(length({q}))"]
    return parts


def _fill(column: ColumnProfile, values: list[Any]) -> None:
    column.nulls = int(values[0])
    if column.kind == "nested":
        column.min_length, column.max_length, column.mean_length = values[1], values[2], values[3]
        return
    column.distinct = int(values[1])
    rest = values[2:]
    if column.kind in ("number", "temporal"):
        column.minimum, column.maximum, rest = rest[0], rest[1], rest[2:]
    if column.kind == "number":
        column.mean = float(rest[0]) if rest[0] is not None else None
    if column.kind == "string":
        column.min_length, column.max_length = rest[0], rest[1]
        column.mean_length = float(rest[2]) if rest[2] is not None else None


def profile_table(
    settings: Settings, table: Table, snapshot_id: int | None = None, *, max_rows: int = MAX_PROFILED_ROWS
) -> TableProfile:
    """Profile a snapshot of an Iceberg table (main's current one by default).

    Args:
        settings: DuckDB's memory limit, threads and spill folder.
        table: The table.
        snapshot_id: The snapshot to profile; None for main's current snapshot.
        max_rows: Above this many rows, profile a uniform sample of this size.

    Returns:
        The profile; zero rows and no values when the table has no snapshot yet.
    """
    started = time.perf_counter()
    name = ".".join(table.name()[-2:])
    snapshot = table.snapshot_by_id(snapshot_id) if snapshot_id is not None else table.current_snapshot()
    fields = table.schema().fields
    columns = [ColumnProfile(f.name, _kind(f.field_type), str(f.field_type)) for f in fields]
    if snapshot is None:
        return TableProfile(name, None, 0, 0, columns, time.perf_counter() - started)
    summary = snapshot.summary.additional_properties if snapshot.summary else {}
    rows = int(summary.get("total-records", 0))
    # Imported here: the definitions import this module, and DuckDB is only needed to profile.
    from dagster_project.ingest.convert import connect

    con = connect(settings.duckdb_memory_limit, settings.duckdb_threads, settings.work_dir / "duckdb")
    try:
        reader = table.scan(snapshot_id=snapshot.snapshot_id).to_arrow_batch_reader()
        con.register("scanned", reader)
        # Bernoulli sampling streams (a reservoir of the same size took 3x longer on 2M rows).
        share = 100 * max_rows / rows if rows else 100
        sample = f" using sample bernoulli({share:.6f}%) repeatable (7)" if rows > max_rows else ""
        con.execute(f"create temp table profiled as select * from scanned{sample}")
        con.unregister("scanned")
        profiled = con.execute("select count(*) from profiled").fetchone()[0]
        if not sample:
            rows = profiled  # the snapshot summary may be missing; the scan is the truth
        selects = [[*_aggregates(c)] for c in columns]
        flat = ", ".join(part for parts in selects for part in parts) or "1"
        values = list(con.execute(f"select {flat} from profiled").fetchone())
        for column, parts in zip(columns, selects, strict=True):
            _fill(column, values[: len(parts)])
            values = values[len(parts) :]
            categorical = column.kind == "boolean" or (
                column.kind == "string" and (column.distinct or 0) <= CATEGORY_LIMIT
            )
            if categorical and column.distinct:
                q = _quote(column.name)
                column.categories = [
                    (value, int(count))
                    for value, count in con.execute(
                        f"select {q}, count(*) from profiled where {q} is not null "
                        f"group by 1 order by 2 desc, 1 limit {TOP_CATEGORIES}"
                    ).fetchall()
                ]
    finally:
        con.close()
    return TableProfile(name, snapshot.snapshot_id, rows, profiled, columns, time.perf_counter() - started)
