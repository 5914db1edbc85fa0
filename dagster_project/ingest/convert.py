"""Turns one landed file into a Parquet file of the table's schema with DuckDB, streaming, or rejects it."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.lakehouse.tables import duckdb_type
from dagster_project.registry import Dataset

# DuckDB types a drifted (undeclared) column may arrive with, and the table type it gets.
_SNIFFED = {
    "VARCHAR": "string",
    "BIGINT": "long",
    "INTEGER": "long",
    "SMALLINT": "long",
    "TINYINT": "long",
    "HUGEINT": "string",
    "DOUBLE": "double",
    "FLOAT": "double",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
}
_LINE = re.compile(r"(?:CSV Error on Line|line)[: ]+(\d+)", re.IGNORECASE)
_COLUMN = re.compile(r'column "([^"]+)"')


class FileRejected(Exception):
    """A landed file cannot be ingested; it goes to quarantine with this reason."""

    def __init__(self, reason: str, message: str, line: int | None = None, column: str | None = None):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.line = line
        self.column = column


@dataclass
class Converted:
    """A staged Parquet file ready to be added to the table."""

    path: Path
    rows: int
    new_columns: dict[str, str] = field(default_factory=dict)
    drifted_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)


def normalize_name(name: str) -> str:
    """Header names as column names: lower case, runs of other characters as '_'."""
    cleaned = re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")
    return cleaned or "column"


def _is_nested(duckdb_type_name: str) -> bool:
    return duckdb_type_name.startswith(("STRUCT", "MAP", "UNION", "JSON")) or duckdb_type_name.endswith("]")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def connect(memory_limit: str, threads: int, temp_dir: Path) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection set up for streaming: bounded memory, spill to `temp_dir`."""
    temp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": str(temp_dir)})
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    # Raw keeps rows as landed but needs no order; dropping it lets DuckDB stream with less memory.
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    return con


def _reader(dataset: Dataset, path: Path, types: dict[str, str] | None = None) -> str:
    source = _literal(str(path))
    if dataset.format == "csv":
        options = (
            f"header = true, delim = {_literal(dataset.csv_delimiter)}, quote = '\"', escape = '\"', "
            "strict_mode = true, encoding = 'utf-8'"
        )
        if types:
            pairs = ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in types.items())
            options += f", types = {{{pairs}}}"
        return f"read_csv({source}, {options})"
    if dataset.format == "jsonl":
        return f"read_json({source}, format = 'newline_delimited')"
    return f"read_parquet({source})"


def _reject_from(error: Exception, path_label: str) -> FileRejected:
    text = str(error)
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    line_match = _LINE.search(text)
    column_match = _COLUMN.search(text)
    line = int(line_match.group(1)) if line_match else None
    column = column_match.group(1) if column_match else None
    if "invalid unicode" in text.lower() or "not utf-8 encoded" in text.lower():
        reason = "encoding"
        hint = "re-export the file as UTF-8"
    elif isinstance(error, duckdb.ConversionException) or "Could not convert" in text or "convert" in first:
        reason = "type_conflict"
        hint = "fix the value in the file, or change the column's type in the source registry"
    else:
        reason = "unreadable"
        hint = "check the file's format, quoting and delimiter against the source registry"
    # DuckDB puts the cause after the "CSV Error on Line" and "Original Line" lines; the
    # original line itself is left out because it may carry PII.
    body = [ln.strip() for ln in text.splitlines()[1:] if ln.strip()]
    detail = next((ln for ln in body if not ln.startswith(("Original Line", "Possible Solution"))), first)
    where = "".join(
        part for part in (f" line {line}" if line else "", f" column {column!r}" if column else "") if part
    )
    message = f"{path_label}:{where} {detail} ({hint})"
    return FileRejected(reason, message, line=line, column=column)


def _locate_csv_error(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, path: Path, source_label: str
) -> FileRejected | None:
    """When DuckDB cannot sniff a CSV it blames line 1; a strict read with the header's columns
    as text finds the real line (ragged rows, broken quoting)."""
    if dataset.format != "csv":
        return None
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle, delimiter=dataset.csv_delimiter))
    except (UnicodeDecodeError, StopIteration, csv.Error):
        return None
    columns = ", ".join(f"{_literal(name)}: 'VARCHAR'" for name in header)
    try:
        con.execute(
            f"SELECT count(*) FROM read_csv({_literal(str(path))}, header = true, "
            f"delim = {_literal(dataset.csv_delimiter)}, quote = '\"', escape = '\"', strict_mode = true, "
            f"auto_detect = false, columns = {{{columns}}})"
        ).fetchall()
    except duckdb.Error as exc:
        return _reject_from(exc, source_label)
    return None


def convert_file(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    path: Path,
    *,
    source_label: str,
    table_columns: dict[str, str],
    lineage: dict[str, str],
    out_path: Path,
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

    Returns:
        The staged file, its row count and any columns it adds to the table.

    Raises:
        FileRejected: Empty, unreadable, wrongly encoded, or a value conflicts with a column type.
    """
    if path.stat().st_size == 0:
        raise FileRejected("empty", f"{source_label}: the file is empty (0 bytes); nothing to ingest")
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {_reader(dataset, path)}").fetchall()
    except duckdb.Error as exc:
        raise (
            _locate_csv_error(con, dataset, path, source_label) or _reject_from(exc, source_label)
        ) from exc
    header = [(row[0], row[1]) for row in described]
    by_name: dict[str, tuple[str, str]] = {}
    for original, sniffed in header:
        name = normalize_name(original)
        if name in by_name:
            raise FileRejected(
                "duplicate_columns",
                f"{source_label}: columns {by_name[name][0]!r} and {original!r} both map to {name!r}; "
                "rename one in the file",
                column=original,
            )
        by_name[name] = (original, sniffed)
    declared = [c.name for c in dataset.columns]
    if not any(name in by_name for name in declared):
        found = ", ".join(repr(o) for o, _ in header[:10])
        raise FileRejected(
            "schema_mismatch",
            f"{source_label}: none of the declared columns of {dataset.name} is in the file "
            f"(found {found}); check the file belongs to {dataset.prefix} or its delimiter/format",
        )

    target = dict(table_columns)
    new_columns: dict[str, str] = {}
    for name, (_, sniffed) in by_name.items():
        if name not in target:
            new_columns[name] = "double" if sniffed.startswith("DECIMAL") else _SNIFFED.get(sniffed, "string")
            target[name] = new_columns[name]

    csv_types = {by_name[n][0]: duckdb_type(t) for n, t in target.items() if n in by_name}
    selects = []
    for name, type_name in target.items():
        sql_type = duckdb_type(type_name)
        if name in by_name:
            original, sniffed = by_name[name]
            value = _quote(original)
            if sql_type == "VARCHAR" and _is_nested(sniffed):
                value = f"to_json({value})"  # nested JSON values are kept as JSON text
            selects.append(f"CAST({value} AS {sql_type}) AS {_quote(name)}")
        else:
            selects.append(f"CAST(NULL AS {sql_type}) AS {_quote(name)}")
    selects += [
        f"{_literal(lineage['_source_file'])} AS _source_file",
        f"{_literal(lineage['_source_checksum'])} AS _source_checksum",
        f"CAST({_literal(lineage['_ingested_at'])} AS TIMESTAMPTZ) AS _ingested_at",
        f"{_literal(lineage['_run_id'])} AS _run_id",
    ]
    reader = _reader(dataset, path, csv_types if dataset.format == "csv" else None)
    sql = (
        f"COPY (SELECT {', '.join(selects)} FROM {reader}) TO {_literal(str(out_path))} "
        "(FORMAT parquet, COMPRESSION snappy)"
    )
    out_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        rows = con.execute(sql).fetchone()[0]  # type: ignore[index]
    except duckdb.Error as exc:
        out_path.unlink(missing_ok=True)
        raise _reject_from(exc, source_label) from exc
    if rows == 0:
        out_path.unlink(missing_ok=True)
        raise FileRejected("no_rows", f"{source_label}: the file has a header but no data rows")
    return Converted(
        path=out_path,
        rows=int(rows),
        new_columns=new_columns,
        drifted_columns=list(new_columns),
        missing_columns=[n for n in target if n not in by_name and n not in new_columns],
    )
