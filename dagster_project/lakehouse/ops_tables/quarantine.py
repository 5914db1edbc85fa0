"""The quarantine log, Iceberg `ops.quarantine`: files and rows set apart, and duplicates skipped."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.expressions import EqualTo, In
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.types import LongType, NestedField, StringType, TimestamptzType

from dagster_project import faults
from dagster_project.lakehouse.ops_tables.append import append_once
from dagster_project.lakehouse.tables import ensure_table

QUARANTINE_TABLE = "ops.quarantine"
QUARANTINE_SCHEMA = Schema(
    NestedField(1, "quarantined_at", TimestamptzType(), required=False, doc="When the file was quarantined."),
    NestedField(2, "dataset", StringType(), required=False, doc="Registry dataset the file landed for."),
    NestedField(3, "source_file", StringType(), required=False, doc="URI of the original (left in place)."),
    NestedField(4, "source_checksum", StringType(), required=False, doc="BLAKE3 of the file version."),
    NestedField(5, "quarantine_file", StringType(), required=False, doc="URI of the copy in quarantine."),
    NestedField(
        6, "reason", StringType(), required=False, doc="Machine-readable reason, e.g. type_conflict."
    ),
    NestedField(7, "message", StringType(), required=False, doc="What is wrong and what to do."),
    NestedField(8, "line", LongType(), required=False, doc="Line in the file, where known."),
    NestedField(9, "column_name", StringType(), required=False, doc="Column, where known."),
    NestedField(10, "run_id", StringType(), required=False, doc="Dagster run that quarantined it."),
    NestedField(
        11, "row_data", StringType(), required=False, doc="A dropped row as JSON (row-level rejections)."
    ),
    NestedField(
        12,
        "landing_version",
        StringType(),
        required=False,
        doc="The file's size-mtime or ETag when it landed.",
    ),
    NestedField(
        13,
        "record_id",
        StringType(),
        required=False,
        doc="Stable id of the record (file version, row, reason): a rerun never records it twice.",
    ),
    NestedField(
        14,
        "scope",
        StringType(),
        required=False,
        doc="'file' (the whole file), 'row' (one row of it), 'duplicate' (a copy: skipped, not quarantined).",
    ),
    NestedField(
        15,
        "duplicate_of",
        StringType(),
        required=False,
        doc="For a duplicate: URI of the file version with the same bytes that was taken.",
    ),
)
DUPLICATE = "duplicate"  # the scope and reason of a file skipped because its bytes landed before


@dataclass(frozen=True)
class QuarantineRecord:
    """One quarantined file version."""

    quarantined_at: datetime
    dataset: str
    source_file: str
    source_checksum: str
    quarantine_file: str
    reason: str
    message: str
    line: int | None
    column_name: str | None
    run_id: str
    row_data: str | None = None
    landing_version: str | None = None
    record_id: str = ""
    scope: str = ""  # empty: 'row' when the record carries a row, else 'file'
    duplicate_of: str | None = None

    def __post_init__(self) -> None:
        if not self.scope:
            object.__setattr__(self, "scope", "row" if self.row_data is not None else "file")
        if not self.record_id:
            detail = f"{self.line}:{self.column_name}:{self.row_data}" if self.scope == "row" else ""
            object.__setattr__(
                self,
                "record_id",
                record_id(self.source_file, self.source_checksum, self.scope, self.reason, detail),
            )


def record_id(source_file: str, checksum: str, scope: str, reason: str, detail: str = "") -> str:
    """The stable id of a quarantine record: same file version, scope, reason and row, same id."""
    key = "\x1f".join((source_file, checksum, scope, reason, detail))
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def quarantine_table(catalog: Catalog) -> Table:
    table = ensure_table(catalog, QUARANTINE_TABLE, QUARANTINE_SCHEMA)
    if len(table.schema().fields) < len(QUARANTINE_SCHEMA.fields):  # created by an older version
        with table.update_schema() as update:
            update.union_by_name(QUARANTINE_SCHEMA)
    return table


def distinct_ids(records: Sequence[QuarantineRecord]) -> list[QuarantineRecord]:
    """The records, each repeat of an id given its own id (identical rows of one file are each a record).

    Repeats are numbered in order, so the same records give the same ids on every run.
    """
    seen: Counter[str] = Counter()
    out = []
    for r in records:
        seen[r.record_id] += 1
        n = seen[r.record_id]
        out.append(r if n == 1 else replace(r, record_id=record_id(r.record_id, "", "repeat", str(n))))
    return out


def record_quarantine(catalog: Catalog, records: Sequence[QuarantineRecord]) -> int:
    """Append quarantine records in one commit, each `record_id` once however often this is called.

    A rerun or a concurrent run recording the same records adds nothing, so a run records its
    quarantine before it commits its batch and any rerun may safely record it again.

    Returns:
        How many records were new.
    """
    if not records:
        return 0
    records = distinct_ids(records)
    table = quarantine_table(catalog)
    rows = pa.Table.from_pylist([asdict(r) for r in records], schema=table.schema().as_arrow())
    checksums = sorted({r.source_checksum for r in records})
    faults.reached("quarantine.before_append")
    added = append_once(table, rows, id_column="record_id", scope=In("source_checksum", checksums))
    faults.reached("quarantine.appended")
    return added


def quarantined_landing_versions(
    catalog: Catalog, dataset: str, *, duplicates: bool = False
) -> set[tuple[str, str]]:
    """(source URI, landing version) of the dataset's quarantined files: sensors need no run for them.

    Args:
        catalog: The catalog.
        dataset: The registry dataset.
        duplicates: Also the versions recorded as duplicates (the dataset skips them).
    """
    if not catalog.table_exists(QUARANTINE_TABLE):
        return set()
    table = catalog.load_table(QUARANTINE_TABLE)
    if table.current_snapshot() is None or "landing_version" not in {f.name for f in table.schema().fields}:
        return set()
    fields = {f.name for f in table.schema().fields}
    wanted = ("source_file", "landing_version", "row_data") + (("scope",) if "scope" in fields else ())
    rows = table.scan(row_filter=EqualTo("dataset", dataset), selected_fields=wanted).to_arrow()
    scopes = rows["scope"].to_pylist() if "scope" in fields else [None] * rows.num_rows
    return {
        (u, v)
        for u, v, scope, row_data in zip(
            rows["source_file"].to_pylist(),
            rows["landing_version"].to_pylist(),
            scopes,
            rows["row_data"].to_pylist(),
            strict=True,
        )
        if v
        and (scope == "file" or (scope is None and row_data is None) or (duplicates and scope == DUPLICATE))
    }


def duplicate_versions(catalog: Catalog, dataset: str) -> dict[tuple[str, str], str]:
    """(source URI, checksum) of every version of `dataset` recorded as a duplicate → the URI it copies."""
    if not catalog.table_exists(QUARANTINE_TABLE):
        return {}
    table = quarantine_table(catalog)
    if table.current_snapshot() is None:
        return {}
    rows = table.scan(
        row_filter=EqualTo("dataset", dataset) & EqualTo("scope", DUPLICATE),
        selected_fields=("source_file", "source_checksum", "duplicate_of"),
    ).to_arrow()
    return {
        (uri, checksum): original or ""
        for uri, checksum, original in zip(
            rows["source_file"].to_pylist(),
            rows["source_checksum"].to_pylist(),
            rows["duplicate_of"].to_pylist(),
            strict=True,
        )
    }


def quarantined_versions(catalog: Catalog, dataset: str) -> set[tuple[str, str]]:
    """(source URI, checksum) of every file version of `dataset` quarantined whole.

    Rows quarantined one by one (scope 'row': values that did not fit, rows dropped by an
    expectation) do not count: the rest of their file is in the table, or still due.
    """
    table = quarantine_table(catalog)
    if table.current_snapshot() is None:
        return set()
    rows = table.scan(
        row_filter=EqualTo("dataset", dataset),
        selected_fields=("source_file", "source_checksum", "scope", "row_data"),
    ).to_arrow()
    return {
        (uri, checksum)
        for uri, checksum, scope, row_data in zip(
            rows["source_file"].to_pylist(),
            rows["source_checksum"].to_pylist(),
            rows["scope"].to_pylist(),
            rows["row_data"].to_pylist(),
            strict=True,
        )
        if scope == "file" or (scope is None and row_data is None)  # None: recorded by an older version
    }


def read_quarantine(catalog: Catalog) -> pa.Table:
    table = quarantine_table(catalog)
    if table.current_snapshot() is None:
        return QUARANTINE_SCHEMA.as_arrow().empty_table()
    return table.scan().to_arrow()
