"""Turns one landed file into a Parquet file of the table's schema with DuckDB, streaming, or rejects it."""

from __future__ import annotations

import csv
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from dagster_project.lakehouse.tables import duckdb_type
from dagster_project.registry import DECIMAL_TYPE, Dataset

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
_LINE = re.compile(r"CSV Error on Line: (\d+)|\bin line (\d+)")
_COLUMN = re.compile(r'column "([^"]+)"|column \'([^\']+)\'|source column ([A-Za-z0-9_]+)')
_GLOB = re.compile(r"[*?\[\]{}]")
_NOT_TEXT = (
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "a zip archive"),
    (b"%PDF-", "a PDF document"),
    (b"PAR1", "a Parquet file"),
)
_OFFSET = r"'[zZ]$|[+-][0-9]{2}:?[0-9]{2}$'"
_DECIMAL_HEADROOM = 6  # extra digits read before checking that nothing is lost to rounding
TYPE_CONFLICT = "type conflict: "


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
    return con


def _precheck(dataset: Dataset, path: Path, label: str) -> None:
    """Reject what DuckDB would misread or describe badly: empty, UTF-16/32, not Parquet."""
    size = path.stat().st_size
    if size == 0:
        raise FileRejected("empty", f"{label}: the file is empty (0 bytes); nothing to ingest")
    with open(path, "rb") as handle:
        head = handle.read(65536)
        tail = b""
        if dataset.format == "parquet" and size >= 8:
            handle.seek(size - 4)
            tail = handle.read(4)
    if dataset.format == "parquet":
        if not (head.startswith(b"PAR1") and tail == b"PAR1"):
            raise FileRejected(
                "unreadable",
                f"{label}: not a complete Parquet file (no PAR1 magic bytes at its start and end): "
                "truncated or another format; land it again",
            )
        return
    for magic, what in _NOT_TEXT:
        if head.startswith(magic):
            message = f"{label}: this is {what}, not {dataset.format} text; land it as plain text"
            raise FileRejected("unreadable", message)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head.count(b"\x00") > len(head) // 10:
        raise FileRejected("encoding", f"{label}: UTF-16/UTF-32 text, not UTF-8 (re-export as UTF-8)")
    controls = sum(1 for byte in head if byte < 9 or 13 < byte < 32)
    if controls > len(head) // 20:
        raise FileRejected("unreadable", f"{label}: binary data, not {dataset.format} text")
    if size <= len(head) and not head.strip():
        raise FileRejected("empty", f"{label}: the file holds only whitespace; nothing to ingest")


def _csv_header(dataset: Dataset, path: Path, label: str) -> list[str]:
    """The header line, read with the registry's dialect (DuckDB's sniffer guesses; we know)."""
    with open(path, "rb") as handle:
        first = handle.readline(1 << 20)  # the rest of the file is DuckDB's to read (and judge)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        message = f"{label}: line 1: not UTF-8 ({exc.reason} at byte {exc.start}); re-export as UTF-8"
        raise FileRejected("encoding", message, line=1) from exc
    try:
        names = next(
            csv.reader([text.rstrip("\r\n")], delimiter=dataset.csv_delimiter, quotechar='"', strict=True)
        )
    except StopIteration as exc:
        raise FileRejected("empty", f"{label}: the file has no header line") from exc
    except csv.Error as exc:
        raise FileRejected(
            "unreadable", f"{label}: line 1: the header is not valid CSV ({exc})", line=1
        ) from exc
    return [name.strip() for name in names]


def _readable_path(path: Path, scratch: Path) -> Path:
    """A path DuckDB reads literally: it expands glob characters (`*`, `?`, `[`) in file names."""
    if not _GLOB.search(str(path)):
        return path
    scratch.mkdir(parents=True, exist_ok=True)
    link = scratch / f"input-{uuid.uuid4().hex}{''.join(path.suffixes)[-16:]}"
    os.symlink(path, link)
    return link


def _reader(dataset: Dataset, path: Path, columns: dict[str, str] | None = None) -> str:
    source = _literal(str(path))
    if dataset.format == "csv":
        pairs = ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in (columns or {}).items())
        return (
            f"read_csv({source}, header = true, auto_detect = false, "
            f"delim = {_literal(dataset.csv_delimiter)}, quote = '\"', escape = '\"', strict_mode = true, "
            f"encoding = 'utf-8', columns = {{{pairs}}})"
        )
    if dataset.format == "jsonl":
        return f"read_json({source}, format = 'newline_delimited')"
    return f"read_parquet({source})"


_KNOWN_CAUSE = re.compile(
    r"^(Error when converting|Value with unterminated|Expected Number of Columns|Invalid unicode|"
    r"Maximum line size|Could not convert|It was not possible)"
)


def _cause(text: str) -> str:
    """DuckDB's cause, without the failing row (it may carry PII) or our own SQL."""
    lines = [line.strip() for line in text.strip().splitlines()]
    first = lines[0] if lines else ""
    if "CSV Error on Line" not in first:
        return re.sub(r"^[A-Za-z ]*Error: ", "", first).strip()
    known = next((line for line in lines[1:] if _KNOWN_CAUSE.match(line)), None)
    if known:
        return known
    # Otherwise the first prose after the blank line that ends the (possibly multi-line) row.
    after_row = lines[lines.index("") + 1 :] if "" in lines else []
    return next((line for line in after_row if line and not line.startswith(("Possible", "*"))), first)


def _reject_from(error: Exception, label: str, paths: tuple[Path, ...] = ()) -> FileRejected:
    text = str(error)
    for path in paths:  # name the landed file, not our scratch copy
        text = text.replace(str(path), label)
    cause = _cause(text)
    line_match = _LINE.search(text)
    column_match = _COLUMN.search(text)
    line = int(next(g for g in line_match.groups() if g)) if line_match else None
    column = next((g for g in column_match.groups() if g), None) if column_match else None
    lowered = text.lower()
    if "invalid unicode" in lowered or "not utf-8 encoded" in lowered:
        reason, hint = "encoding", "re-export the file as UTF-8"
    elif (
        isinstance(error, duckdb.ConversionException)
        or "Could not convert" in text
        or "Conversion Error" in text
        or TYPE_CONFLICT in text
    ):
        reason, hint = (
            "type_conflict",
            "fix the value in the file, or change the column's type in the source registry",
        )
    else:
        reason, hint = (
            "unreadable",
            "check the file's format, quoting and delimiter against the source registry",
        )
    where = "".join(
        part for part in (f" line {line}" if line else "", f" column {column!r}" if column else "")
    )
    return FileRejected(reason, f"{label}:{where} {cause} ({hint})", line=line, column=column)


def _read_type(type_name: str) -> str:
    """How a declared column is read before the cast that checks it."""
    decimal = DECIMAL_TYPE.match(type_name)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        extra = min(_DECIMAL_HEADROOM, 38 - precision)
        return f"DECIMAL({precision + extra},{scale + extra})"
    return "VARCHAR" if type_name == "timestamp" else duckdb_type(type_name)


def _select(name: str, source: str, sniffed: str | None, type_name: str) -> str:
    """The SELECT expression that casts one landed column to its table type, refusing lossy casts."""
    sql_type = duckdb_type(type_name)
    value = _quote(source)
    if sniffed == "JSON":  # a key whose values differ in type across lines: take each as text
        value = f"json_extract_string({value}, '$')"
    elif sql_type == "VARCHAR" and sniffed and _is_nested(sniffed):
        value = f"to_json({value})"  # nested JSON values are kept as JSON text
    if type_name == "timestamp" and sniffed in (None, "VARCHAR", "JSON"):
        # Text with an offset is converted to UTC; text without one is parsed strictly as UTC
        # (TIMESTAMPTZ's parser would also accept formats such as 01/11/2026).
        converted = f"CAST(CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP)"
        return (
            f"CASE WHEN regexp_matches({value}, {_OFFSET}) THEN {converted} "
            f"ELSE CAST({value} AS TIMESTAMP) END AS {_quote(name)}"
        )
    if type_name == "timestamp":
        return f"CAST(CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP) AS {_quote(name)}"
    decimal = DECIMAL_TYPE.match(type_name)
    if decimal:
        scale = int(decimal.group(2))
        wide = f"CAST({value} AS {_read_type(type_name)})"
        message = f"{TYPE_CONFLICT}column '{name}' has a value with more than {scale} decimal places: "
        failure = f"error({_literal(message)} || CAST({value} AS VARCHAR))"
        return (
            f"CASE WHEN {wide} <> round({wide}, {scale}) THEN {failure} "
            f"ELSE CAST({wide} AS {sql_type}) END AS {_quote(name)}"
        )
    return f"CAST({value} AS {sql_type}) AS {_quote(name)}"


def _fails(name: str, by_name: dict[str, tuple[str, str | None]], type_name: str, expression: str) -> str:
    """SQL true on the rows whose value of `name` does not survive its cast to the table type."""
    source = _quote(by_name[name][0])
    decimal = DECIMAL_TYPE.match(type_name)
    if decimal:  # the scale check raises error(), which TRY() does not catch
        wide = f"TRY_CAST({source} AS {_read_type(type_name)})"
        return f"{source} IS NOT NULL AND ({wide} IS NULL OR {wide} <> round({wide}, {decimal.group(2)}))"
    return f"{source} IS NOT NULL AND TRY({expression}) IS NULL"


def _locate_row(
    con: duckdb.DuckDBPyConnection,
    reader: str,
    selects: list[str],
    target: dict[str, str],
    by_name: dict[str, tuple[str, str | None]],
    rejected: FileRejected,
    header_lines: int,
) -> None:
    """Find the first row and column whose value fails a cast done in SELECT (DuckDB names neither)."""
    names = list(target)
    known = normalize_name(rejected.column) if rejected.column else None
    candidates = [known] if known else [n for n in names if n in by_name]
    con.execute("SET preserve_insertion_order = true")  # row numbers in file order, for these queries
    try:
        for name in candidates:
            if name not in by_name or name not in names:
                continue
            expression = selects[names.index(name)].rsplit(" AS ", 1)[0]
            predicate = _fails(name, by_name, target[name], expression)
            try:
                numbered = f"SELECT row_number() OVER () AS n, * FROM {reader}"
                found = con.execute(f"SELECT n FROM ({numbered}) WHERE {predicate} LIMIT 1").fetchone()
            except duckdb.Error:
                continue
            if found:
                rejected.line = int(found[0]) + header_lines  # a quoted newline in a CSV field shifts it
                rejected.column = rejected.column or by_name[name][0]
                where = f" row {found[0]} (line {rejected.line}) column {rejected.column!r}:"
                rejected.message = rejected.message.replace(":", where, 1)
                return
    finally:
        con.execute("SET preserve_insertion_order = false")


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
    _precheck(dataset, path, source_label)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    readable = _readable_path(path, out_path.parent)
    try:
        return _convert(
            con, dataset, readable, source_label, table_columns, lineage, out_path, (path, readable)
        )
    finally:
        if readable != path:
            readable.unlink(missing_ok=True)


def _convert(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    path: Path,
    label: str,
    table_columns: dict[str, str],
    lineage: dict[str, str],
    out_path: Path,
    paths: tuple[Path, ...],
) -> Converted:
    if dataset.format == "csv":
        header: list[tuple[str, str | None]] = [(name, None) for name in _csv_header(dataset, path, label)]
    else:
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {_reader(dataset, path)}").fetchall()
        except duckdb.Error as exc:
            raise _reject_from(exc, label, paths) from exc
        header = [(row[0], row[1]) for row in described]
    by_name: dict[str, tuple[str, str | None]] = {}
    for original, sniffed in header:
        name = normalize_name(original)
        if name in by_name:
            raise FileRejected(
                "duplicate_columns",
                f"{label}: columns {by_name[name][0]!r} and {original!r} both map to {name!r}; "
                "rename one in the file",
                column=original,
            )
        by_name[name] = (original, sniffed)
    if not any(c.name in by_name for c in dataset.columns):
        found = ", ".join(repr(o) for o, _ in header[:10])
        raise FileRejected(
            "schema_mismatch",
            f"{label}: none of the declared columns of {dataset.name} is in the file "
            f"(found {found}); check the file belongs to {dataset.prefix} or its delimiter/format",
        )

    target = dict(table_columns)
    new_columns: dict[str, str] = {}
    for name, (_, sniffed) in by_name.items():
        if name not in target:
            # A drifted CSV column arrives as text; other formats carry their own types.
            if sniffed is None:
                new_columns[name] = "string"
            else:
                new_columns[name] = (
                    "double" if sniffed.startswith("DECIMAL") else _SNIFFED.get(sniffed, "string")
                )
            target[name] = new_columns[name]

    selects = [
        _select(name, by_name[name][0], by_name[name][1], type_name)
        if name in by_name
        else f"CAST(NULL AS {duckdb_type(type_name)}) AS {_quote(name)}"
        for name, type_name in target.items()
    ]
    selects += [
        f"{_literal(lineage['_source_file'])} AS _source_file",
        f"{_literal(lineage['_source_checksum'])} AS _source_checksum",
        f"CAST({_literal(lineage['_ingested_at'])} AS TIMESTAMPTZ) AS _ingested_at",
        f"{_literal(lineage['_run_id'])} AS _run_id",
    ]
    csv_columns = {by_name[n][0]: _read_type(t) for n, t in target.items() if n in by_name}
    reader = _reader(dataset, path, csv_columns if dataset.format == "csv" else None)
    sql = (
        f"COPY (SELECT {', '.join(selects)} FROM {reader}) TO {_literal(str(out_path))} "
        "(FORMAT parquet, COMPRESSION snappy)"
    )
    try:
        rows = con.execute(sql).fetchone()[0]  # type: ignore[index]
    except duckdb.Error as exc:
        out_path.unlink(missing_ok=True)
        rejected = _reject_from(exc, label, paths)
        if rejected.reason == "type_conflict" and rejected.line is None:
            _locate_row(con, reader, selects, target, by_name, rejected, 1 if dataset.format == "csv" else 0)
        raise rejected from exc
    if rows == 0:
        out_path.unlink(missing_ok=True)
        raise FileRejected("no_rows", f"{label}: the file has a header but no data rows")
    return Converted(
        path=out_path,
        rows=int(rows),
        new_columns=new_columns,
        drifted_columns=list(new_columns),
        missing_columns=[n for n in target if n not in by_name and n not in new_columns],
    )
