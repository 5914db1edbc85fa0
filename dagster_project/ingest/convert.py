"""Turns one landed file into Parquet of its table's columns, streaming; rows that do not fit set apart.

Columns are matched by name (any order); every value is cast exactly (`casts.py`) or its row is
rejected with the column and the reason, never rounded or guessed. One pass writes the rows straight
to the staged file, stopping at the first row that does not fit; only then is the file read again,
by a partitioned COPY that splits good from bad rows, and once more to number the bad rows and keep
them as landed for quarantine. Most files have no bad row: they are read once.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from dagster_project.ingest.casts import Cast, depth_exceeds, literal
from dagster_project.ingest.columns import column_cast, match_to_table, prepared
from dagster_project.ingest.decode import decoded
from dagster_project.ingest.lines import first_line_over, record_lines
from dagster_project.ingest.sources import (
    FileRejected,
    LandedColumn,
    drift_type,
    environment_failure,
    landed_columns,
    normalize_name,
    precheck,
    quote,
    reader_sql,
    reject_from,
    source_column,
)
from dagster_project.lakehouse.tables import duckdb_type
from dagster_project.registry import Dataset

__all__ = ["Converted", "FileRejected", "Limits", "RejectedRow", "connect", "convert_file", "normalize_name"]

_GLOB = ("*", "?", "[", "]", "{", "}")
_WHOLE_ROW = ""  # the key of the check on the row as a whole (no column is named "": names are normalised)
# The error the one-pass COPY raises at the first row that does not fit (no value in it: see _one_pass).
_UNFIT = "foundation: a row does not fit its column types"


@dataclass(frozen=True)
class Limits:
    """What one landed file may be; past a limit it is quarantined with the limit named."""

    max_columns: int = 1000
    max_new_columns: int = 20
    max_nesting_depth: int = 64
    max_record_bytes: int = 8 << 20
    max_rejected_rows: int = 1000
    whole_file_on_bad_rows: bool = False  # the registry's `bad_rows: file` policy


@dataclass(frozen=True)
class RejectedRow:
    """A row whose values do not fit their columns: where it is, why, and the row as landed (JSON)."""

    row: int
    line: int | None
    problems: tuple[tuple[str, str], ...]  # (column as named in the file, why)
    data: str

    @property
    def column(self) -> str | None:
        return self.problems[0][0] or None  # None: the row as a whole (an empty row)

    def why(self) -> str:
        return "; ".join(f"column {column!r}: {why}" if column else why for column, why in self.problems)


@dataclass
class Converted:
    """A staged Parquet file ready to be added to the table, and the rows set apart."""

    path: Path
    rows: int
    new_columns: dict[str, str] = field(default_factory=dict)
    rejected: list[RejectedRow] = field(default_factory=list)


def connect(memory_limit: str, threads: int, temp_dir: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up for streaming: bounded memory, spill to `temp_dir`, UTC."""
    temp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(temp_dir)})
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    # Raw keeps rows as landed but needs no order; dropping it lets DuckDB stream with less memory.
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    # Timestamps with an offset are stored as UTC wall time; naive ones are taken as UTC.
    con.execute("SET TimeZone = 'UTC'")
    # Nesting is measured iteratively in Python, and only for values with enough brackets to matter.
    con.create_function(
        "nested_deeper_than",
        lambda text, limit: depth_exceeds(text, limit),
        ["VARCHAR", "INTEGER"],
        "BOOLEAN",
        null_handling="special",
    )
    return con


def _readable_path(path: Path, scratch: Path) -> Path:
    """A path DuckDB reads literally: it expands glob characters (`*`, `?`, `[`) in file names."""
    if not any(c in str(path) for c in _GLOB):
        return path
    scratch.mkdir(parents=True, exist_ok=True)
    link = scratch / f"input-{uuid.uuid4().hex}{''.join(path.suffixes)[-16:]}"
    os.symlink(path, link)
    return link


def convert_file(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    path: Path,
    *,
    source_label: str,
    table_columns: dict[str, str],
    lineage: dict[str, str],
    out_path: Path,
    limits: Limits | None = None,
) -> Converted:
    """Cast a landed file to the table's columns and write it as Parquet, streaming.

    Args:
        con: DuckDB connection from `connect`.
        dataset: The dataset the file belongs to.
        path: Local path of the landed file.
        source_label: How errors name the file (its landing key).
        table_columns: The table's current data columns (name -> registry type), declared first,
            then columns added by earlier drift; a file may add more.
        lineage: Values of the lineage columns (`_source_file`, ...); `_ingested_at` is ISO 8601.
        out_path: Where to write the Parquet file.
        limits: Columns, new columns, nesting, record size and rejected-row limits.

    Returns:
        The staged file, its row count, any columns it adds, and the rows set apart.

    Raises:
        FileRejected: Empty, unreadable, wrongly encoded, over a limit, or no row fits.
        EnvironmentFailure: Memory, disk or permissions failed while reading; the file is not at fault.
    """
    limits = limits or Limits()
    label = source_label
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # Compressed or not UTF-8: from here on the file is read as a decoded copy in the scratch folder.
    with decoded(dataset, path, label, out_path.parent) as plain:
        try:
            precheck(dataset, plain, label)
        except OSError as exc:
            raise environment_failure(exc, label) or exc from exc
        readable = _readable_path(plain, out_path.parent)
        try:
            return _convert(
                con,
                dataset,
                readable,
                label,
                table_columns,
                lineage,
                out_path,
                limits,
                (readable, plain, path),
            )
        finally:
            if readable != plain:
                readable.unlink(missing_ok=True)


def _convert(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    path: Path,
    label: str,
    table_columns: dict[str, str],
    lineage: dict[str, str],
    out_path: Path,
    limits: Limits,
    paths: tuple[Path, ...],
) -> Converted:
    if dataset.format == "jsonl":  # before DuckDB reads every record to find the keys
        _check_line_lengths(path, label, limits.max_record_bytes)
    columns = match_to_table(
        landed_columns(con, dataset, path, label, limits.max_record_bytes), table_columns, label
    )
    if dataset.format == "csv":  # after the header's own check, which names the header
        _check_line_lengths(path, label, limits.max_record_bytes)
    if len(columns) > limits.max_columns:
        raise FileRejected(
            "too_many_columns",
            f"{label}: {len(columns)} columns, more than the {limits.max_columns} allowed "
            "(FOUNDATION_MAX_COLUMNS); split the file or raise the limit",
        )
    by_name = {c.name: (i, c) for i, c in enumerate(columns)}
    if not any(c.name in by_name for c in dataset.columns):
        expected = ", ".join(c.name for c in dataset.columns[:6])
        raise FileRejected(
            "schema_mismatch",
            f"{label}: none of its {len(columns)} column name(s) is a declared column of {dataset.name} "
            f"(expected {expected}, …); check the file belongs to {dataset.prefix}, has a header line, and "
            f"uses the registry's delimiter/format",
        )
    new_columns = {c.name: drift_type(c) for c in columns if c.name not in table_columns}
    if len(new_columns) > limits.max_new_columns:
        raise FileRejected(
            "too_many_columns",
            f"{label}: {len(new_columns)} undeclared columns would be added to {dataset.table}, more than "
            f"{limits.max_new_columns} per file (FOUNDATION_MAX_NEW_COLUMNS_PER_FILE); declare them in the "
            "source registry, or fix the export",
        )
    target = {**table_columns, **new_columns}
    casts, values = cast_values(dataset, columns, target, limits)
    reader = prepared(dataset, reader_sql(dataset, path, columns, limits.max_record_bytes), columns)
    values += [
        f"{literal(lineage['_source_file'])} AS _source_file",
        f"{literal(lineage['_source_checksum'])} AS _source_checksum",
        f"CAST({literal(lineage['_ingested_at'])} AS TIMESTAMPTZ) AS _ingested_at",
    ]
    run_id = literal(lineage["_run_id"])
    bad = " OR ".join(f"({c.problem}) IS NOT NULL" for c in casts.values()) or "FALSE"
    rows = _one_pass(con, values, run_id, bad, reader, out_path, label, paths, dataset)
    if rows == 0:
        raise FileRejected("no_rows", f"{label}: the file has a header but no data rows")
    if rows is not None:
        return Converted(path=out_path, rows=rows, new_columns=new_columns)
    split = out_path.with_name(f"{out_path.stem}.split")
    shutil.rmtree(split, ignore_errors=True)
    _run(
        con,
        f"COPY (SELECT {', '.join(values)}, {run_id} AS _run_id, ({bad}) AS _bad FROM {reader}) "
        f"TO {literal(str(split))} (FORMAT parquet, COMPRESSION snappy, PARTITION_BY (_bad))",
        label,
        paths,
        dataset,
    )
    try:
        good = sorted((split / "_bad=false").glob("*.parquet"))
        bad_files = sorted((split / "_bad=true").glob("*.parquet"))
        good_rows = sum(pq.read_metadata(f).num_rows for f in good)
        bad_rows = sum(pq.read_metadata(f).num_rows for f in bad_files)
        if good_rows + bad_rows == 0:
            raise FileRejected("no_rows", f"{label}: the file has a header but no data rows")
        rejected: list[RejectedRow] = []
        if bad_rows:
            everything = limits.whole_file_on_bad_rows or bad_rows > limits.max_rejected_rows or not good_rows
            found = _rejected_rows(
                con, dataset, path, label, reader, columns, casts, 1 if everything else bad_rows
            )
            if everything:
                first = found[0]
                why = (
                    "the registry says to quarantine such files whole (bad_rows: file)"
                    if limits.whole_file_on_bad_rows
                    else "no row fits"
                    if not good_rows
                    else f"more than {limits.max_rejected_rows} rows (FOUNDATION_MAX_REJECTED_ROWS_PER_FILE)"
                )
                raise FileRejected(
                    "type_conflict",
                    f"{label}: {bad_rows} of {good_rows + bad_rows} row(s) have values that do not fit their "
                    f"column types, {why}; first at row {first.row}"
                    + (f" (line {first.line})" if first.line else "")
                    + f": {first.why()}",  # the engine adds the registry fix that works
                    line=first.line,
                    column=first.column,
                    row_data=first.data,
                )
            rejected = found
        _merge(con, good, out_path, label, paths, dataset)
        return Converted(path=out_path, rows=good_rows, new_columns=new_columns, rejected=rejected)
    finally:
        shutil.rmtree(split, ignore_errors=True)


def cast_values(
    dataset: Dataset, columns: list, target: dict[str, str], limits: Limits
) -> tuple[dict[str, Cast], list[str]]:
    """The exact casts of the landed columns to the table's data columns, with the empty-row check,
    and the SELECT list of those columns (NULL for a table column the file lacks)."""
    by_name = {c.name: (i, c) for i, c in enumerate(columns)}
    casts: dict[str, Cast] = {}
    for name, type_name in target.items():
        if name in by_name:
            index, column = by_name[name]
            casts[name] = column_cast(dataset, index, column, type_name, limits.max_nesting_depth)
    # A row with no value at all (an Excel export's formatted but empty rows) is not data: it is set
    # apart as such, rather than landing as a row of nulls that a not-null check holds back.
    texts = [
        source_column(dataset, i, c) if dataset.format == "parquet" else quote(f"x{i}")
        for i, c in enumerate(columns)
    ]
    nothing = " AND ".join(f"{text} IS NULL" for text in texts)
    casts[_WHOLE_ROW] = Cast("NULL", f"CASE WHEN {nothing} THEN 'an empty row: no field has a value' END")
    values = [
        f"{casts[name].value} AS {quote(name)}"
        if name in casts
        else f"CAST(NULL AS {duckdb_type(t)}) AS {quote(name)}"
        for name, t in target.items()
    ]
    return casts, values


def _one_pass(
    con: duckdb.DuckDBPyConnection,
    values: list[str],
    run_id: str,
    bad: str,
    reader: str,
    out_path: Path,
    label: str,
    paths: tuple,
    dataset: Dataset,
) -> int | None:
    """Write every row to `out_path` in one pass; the rows written, or None if a row does not fit.

    The checks ride on the last lineage column, `_run_id` (`run_id` is its SQL literal): a row that
    does not fit raises `_UNFIT` and the query stops, its partial output removed. A WHERE clause or a
    partitioned COPY would cost a filter or a split on every row of every file, for the rare file
    with bad rows.
    """
    guarded = f"CASE WHEN {bad} THEN error({literal(_UNFIT)}) ELSE {run_id} END AS _run_id"
    try:
        (rows,) = con.execute(
            f"COPY (SELECT {', '.join(values)}, {guarded} FROM {reader}) TO {literal(str(out_path))} "
            "(FORMAT parquet, COMPRESSION snappy)"
        ).fetchone()
    except duckdb.Error as exc:
        out_path.unlink(missing_ok=True)
        if _UNFIT in str(exc):
            return None
        raise reject_from(exc, label, paths, dataset.format, dataset.dialect, dataset.name) from exc
    return int(rows)


def _check_line_lengths(path: Path, label: str, limit: int) -> None:
    """FOUNDATION_MAX_RECORD_BYTES, exactly: DuckDB enforces maximum_object_size for JSON only from about
    16 MiB, and counts a CSV line's break or not depending on where the line is."""
    line = first_line_over(path, limit)
    if line is not None:
        raise FileRejected(
            "too_large",
            f"{label}: line {line}: a record longer than the {limit:,} bytes one record may have "
            "(FOUNDATION_MAX_RECORD_BYTES); split the record, or raise the limit",
            line=line,
        )


def _merge(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    out_path: Path,
    label: str,
    paths: tuple,
    dataset: Dataset,
) -> None:
    """The good rows as one Parquet file (DuckDB writes one per partition, rarely several)."""
    if len(files) == 1:
        files[0].replace(out_path)
        return
    listing = ", ".join(literal(str(f)) for f in files)
    _run(
        con,
        f"COPY (SELECT * FROM read_parquet([{listing}])) TO {literal(str(out_path))} (FORMAT parquet)",
        label,
        paths,
        dataset,
    )


def _rejected_rows(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    path: Path,
    label: str,
    reader: str,
    columns: list[LandedColumn],
    casts: dict[str, Cast],
    limit: int,
) -> list[RejectedRow]:
    """The rows that do not fit, in file order, numbered, with the landed values as JSON text."""
    by_name = {c.name: c for c in columns}
    problems = ", ".join(
        f"{{'c': {literal(by_name[n].original if n in by_name else '')}, 'p': {c.problem}}}"
        for n, c in casts.items()
    )
    texts = [
        source_column(dataset, i, c) if dataset.format == "parquet" else quote(f"x{i}")
        for i, c in enumerate(columns)
    ]
    landed = ", ".join(f"{literal(c.original)}, {text}" for c, text in zip(columns, texts, strict=True))
    bad = " OR ".join(f"({c.problem}) IS NOT NULL" for c in casts.values())
    con.execute("SET preserve_insertion_order = true")  # row numbers in file order
    try:
        rows = _run(
            con,
            f"SELECT n, [e__ FOR e__ IN [{problems}] IF e__.p IS NOT NULL] AS problems, "
            f"CAST(json_object({landed}) AS VARCHAR) AS data "
            f"FROM (SELECT row_number() OVER () AS n, * FROM {reader}) WHERE {bad} LIMIT {int(limit)}",
            label,
            (path,),
            dataset,
        )
    finally:
        con.execute("SET preserve_insertion_order = false")
    # Row n is not line n + 1 once a value spans lines or blank lines come first: the line is looked up.
    header = 1 if dataset.format == "csv" and dataset.dialect.header else 0
    lines = (
        record_lines(
            path,
            dataset.format,
            [int(n) + header for n, _, _ in rows],
            dialect=dataset.dialect,
            skip_blank=dataset.format == "jsonl" or len(columns) > 1,  # DuckDB's one-column CSV keeps them
        )
        if dataset.format in ("csv", "jsonl")
        else {}
    )
    return [
        RejectedRow(
            row=int(n),
            line=lines.get(int(n) + header),
            problems=tuple((p["c"], p["p"]) for p in found),
            data=data,
        )
        for n, found, data in rows
    ]


def _run(con: duckdb.DuckDBPyConnection, sql: str, label: str, paths: tuple, dataset: Dataset) -> list:
    try:
        return con.execute(sql).fetchall()
    except duckdb.Error as exc:
        raise reject_from(exc, label, paths, dataset.format, dataset.dialect, dataset.name) from exc
