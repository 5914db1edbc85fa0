"""Reading a landed file with DuckDB: check what it is, find its columns by name, and judge DuckDB's errors.

Every landed column is read as text (CSV fields; JSON values as JSON) or with the Parquet file's own
type, never with a guessed or declared type: DuckDB's reader would round or guess on its own. The
exact casts to the declared types are in `casts.py`.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from dagster_project.ingest.casts import literal
from dagster_project.ingest.lines import csv_options, first_non_object_line
from dagster_project.ingest.nested import flattened, nested_value
from dagster_project.ingest.read_errors import FileRejected as FileRejected
from dagster_project.ingest.read_errors import environment_failure as environment_failure
from dagster_project.ingest.read_errors import reject_from
from dagster_project.registry import Dataset

_COMPRESSED = (  # data a declaration or the file's suffix would have had decompressed
    (b"\x1f\x8b", "gzip-compressed data", "gzip", ".gz"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data", "zstd", ".zst"),
    (b"BZh", "bzip2-compressed data", "bz2", ".bz2"),
)
_NOT_TEXT = (
    (b"PK\x03\x04", "a zip archive"),
    (b"%PDF-", "a PDF document"),
    (b"PAR1", "a Parquet file"),
)


@dataclass(frozen=True)
class LandedColumn:
    """A column of a landed file: its name in the file, the name it maps to, and its type there."""

    original: str
    name: str
    source_type: str | None  # None: text (CSV); JSON: a JSON value; else the Parquet column's type
    sniffed: str | None = None  # JSON lines: the type DuckDB sees in the values (for a new column's type)
    path: tuple[str, ...] = ()  # JSON lines, `nested: flatten`: the keys down to a nested value


def normalize_name(name: str) -> str:
    """Header names as column names: lower case, runs of other characters as '_'."""
    cleaned = re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")
    return cleaned or "column"


def quote(identifier: str) -> str:
    """A SQL identifier."""
    return '"' + identifier.replace('"', '""') + '"'


def precheck(dataset: Dataset, path: Path, label: str) -> None:
    """Reject what DuckDB would misread or describe badly: empty, UTF-16/32, compressed, not Parquet.

    `path` is the file as decoded (`decode.py`): decompressed and in UTF-8 when the registry says so.
    """
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
    for magic, what, kind, suffix in _COMPRESSED:
        if head.startswith(magic) and (kind != "bz2" or head[4:10] == b"1AY&SY"):
            raise FileRejected(
                "unreadable",
                f"{label}: this is {what}, not {dataset.format} text; name the file with {suffix} at the "
                f"end, or set compression: {kind} for the dataset in the source registry",
            )
    for magic, what in _NOT_TEXT:
        if head.startswith(magic):
            message = f"{label}: this is {what}, not {dataset.format} text; land it as plain text"
            raise FileRejected("unreadable", message)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head.count(b"\x00") > len(head) // 10:
        raise FileRejected(
            "encoding",
            f"{label}: UTF-16/UTF-32 text, not {dataset.dialect.encoding}: set encoding: utf-16 for the "
            "dataset in the source registry (UTF-16 with a byte order mark), or re-export the file as UTF-8",
        )
    controls = sum(1 for byte in head if byte < 9 or 13 < byte < 32)
    if controls > len(head) // 20:
        raise FileRejected("unreadable", f"{label}: binary data, not {dataset.format} text")
    if size <= len(head) and not head.removeprefix(b"\xef\xbb\xbf").strip():
        raise FileRejected("empty", f"{label}: the file holds only whitespace; nothing to ingest")


_HEADER_PROBLEMS = (  # Python's csv errors on the header line, in words
    ("unexpected end of data", "a quoted name is not closed on the line"),
    ("expected after", "text follows the closing quote of a name"),
    ("field larger than field limit", "a name longer than the 131,072 characters a header name may have"),
)


def csv_header(dataset: Dataset, path: Path, label: str, max_bytes: int) -> list[str]:
    """The header line, read with the registry's dialect (DuckDB's sniffer guesses; we know).

    The header is the first line after the `skip_rows` lines and any comment lines. It ends at the
    first \\n, \\r\\n or \\r (old Mac exports end lines with \\r alone, which DuckDB reads too);
    a header longer than a record may be is rejected, never cut short. With `header: false` the
    columns are the registry's, in declaration order.
    """
    dialect = dataset.dialect
    if not dialect.header:
        return [column.name for column in dataset.columns]
    comment = dialect.comment.encode() if dialect.comment else None
    number = 0
    with open(path, "rb") as handle:
        while True:
            first = handle.readline(max_bytes + 6)  # the rest of the file is DuckDB's to read (and judge)
            number += 1
            if number == 1:
                first = first.removeprefix(b"\xef\xbb\xbf")
            passed = number <= dialect.skip_rows or bool(comment and first.lstrip(b" \t").startswith(comment))
            if not passed or not first:
                break
            while first and not first.endswith(b"\n"):  # the rest of a long line passed over
                first = handle.readline(1 << 20)
    header = re.split(rb"\r\n|\r|\n", first, maxsplit=1)[0]
    where = f"{label}: line {number}"
    if len(header) > max_bytes:
        raise FileRejected(
            "too_large",
            f"{where}: the header is longer than the {max_bytes:,} bytes one record may have "
            "(FOUNDATION_MAX_RECORD_BYTES); check the file has line breaks, or raise the limit",
            line=number,
        )
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = (
            f"{where}: not {dialect.encoding} ({exc.reason} at byte {exc.start}); set the dataset's encoding "
            "in the source registry to the file's (utf-8, utf-16, latin-1, cp1252), or re-export as UTF-8"
        )
        raise FileRejected("encoding", message, line=number) from exc
    if re.fullmatch(r"sep=.", text.strip()):
        raise FileRejected(
            "unreadable",
            f"{where}: Excel's delimiter line ({text.strip()!r}), not a header; delete the line, export "
            f"without it, or set csv: skip_rows: 1 (the registry's delimiter is {dialect.delimiter!r})",
            line=number,
        )
    try:
        names = next(csv.reader([text], **csv_options(dialect)), [])
    except csv.Error as exc:
        cause = next((words for known, words in _HEADER_PROBLEMS if known in str(exc)), "not valid CSV")
        message = f"{where}: the header: {cause}; fix the header's quoting"
        raise FileRejected("unreadable", message, line=number) from exc
    if not names:
        message = f"{where} is blank; the header must come first (after csv: skip_rows lines, if any)"
        raise FileRejected("schema_mismatch", message, line=number)
    return [name.strip() for name in names]


def landed_columns(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, path: Path, label: str, max_record_bytes: int
) -> list[LandedColumn]:
    """The file's columns, in file order, with the names they map to.

    Raises:
        FileRejected: No header, unreadable, or two columns mapping to the same name.
    """
    if dataset.format == "csv":
        found = [(name, None, None) for name in csv_header(dataset, path, label, max_record_bytes)]
    else:
        try:
            if dataset.format == "jsonl":
                found = _json_columns(con, dataset, path, max_record_bytes)
            else:
                found = _described(con, dataset, path, max_record_bytes)
        except duckdb.Error as exc:
            raise reject_from(exc, label, (path,), dataset.format, dataset.dialect, dataset.name) from exc
        if found and found[0][0] is None:  # a line that is not a JSON object
            line = first_non_object_line(path)
            where = f" line {line}:" if line else ""
            raise FileRejected(
                "unreadable",
                f"{label}:{where} a line that is not a JSON object (a list, string or number); give each "
                "line one JSON object (lines end with \\n)",
                line=line,
            )
    columns: dict[str, LandedColumn] = {}
    if dataset.format == "jsonl" and dataset.dialect.nested == "flatten":
        found = flattened(con, path, found, max_record_bytes)
    for original, source_type, sniffed, *nested in found:
        if "\x00" in original or (dataset.format == "jsonl" and not original):
            what = 'a key with no name ("")' if not original else "a column name holding a NUL character"
            raise FileRejected("unreadable", f"{label}: {what}; name the column in the export")
        name = normalize_name(original)
        if name in columns:
            raise FileRejected(
                "duplicate_columns",
                f"{label}: columns {columns[name].original!r} and {original!r} both map to {name!r}; "
                "rename one in the file",
                column=original,
            )
        columns[name] = LandedColumn(original, name, source_type, sniffed, *nested)
    return list(columns.values())


# DuckDB's JSON schema detection recurses into objects whatever its maximum_depth, and overflows the
# stack somewhere past 15,000 nested objects: a line with more '{' than this is never sniffed.
_SNIFF_MAX_OBJECTS = 1000


def _described(con: duckdb.DuckDBPyConnection, dataset: Dataset, path: Path, max_record_bytes: int) -> list:
    """(name, source type, sniffed type) of each column, from DuckDB's own look at the file."""
    if dataset.format == "jsonl":
        # Every line's keys (sample_size=-1: a key first seen on line 30,000 is not dropped);
        # records = true: a line that is not an object is an error, not a file of one 'json' column.
        reader = (
            f"read_json({literal(str(path))}, format = 'newline_delimited', maximum_depth = 2, "
            f"sample_size = -1, records = true, maximum_object_size = {int(max_record_bytes)})"
        )
    else:
        reader = f"read_parquet({literal(str(path))})"
    described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
    names = [row[0] for row in described]
    if dataset.format == "parquet" and _renamed(names):
        # DuckDB's names are case-insensitive: of 'id' and 'ID' it makes 'id' and 'ID_1'. The
        # file's own names decide (and make them duplicates).
        names = pq.read_schema(path).names
    json = dataset.format == "jsonl"
    return [
        (name, "JSON" if json else row[1], row[1] if json else None)
        for name, row in zip(names, described, strict=True)
    ]


def _renamed(names: list[str]) -> bool:
    """Whether DuckDB renamed a name that differs from an earlier one only in case ('ID' -> 'ID_1')."""
    seen: set[str] = set()
    for name in names:
        match = re.fullmatch(r"(.+)_[0-9]+", name)
        if match and match.group(1).lower() in seen:
            return True
        seen.add(name.lower())
    return False


def _json_columns(
    con: duckdb.DuckDBPyConnection, dataset: Dataset, path: Path, max_record_bytes: int
) -> list:
    """The keys of a JSON-lines file as written; [(None, ...)] when a line is not an object.

    DuckDB's names are not always the file's: it renames 'ID' beside 'id' to 'ID_1' and an empty
    key to 'c<n>', and a reader asked for those finds nothing (the values were lost). When its
    names differ from the keys, or the file nests objects too deep for its sniffer, the keys as
    written are taken, unsniffed (undeclared ones become text columns).
    """
    objects = f"read_ndjson_objects({literal(str(path))}, maximum_object_size = {int(max_record_bytes)})"
    braces, not_objects, keys = con.execute(
        "SELECT max(b), sum(n), list(DISTINCT k) FILTER (WHERE k IS NOT NULL) FROM ("
        "SELECT b, n, unnest(CASE WHEN len(keys) > 0 THEN keys ELSE [NULL] END) AS k FROM ("
        "SELECT length(json::VARCHAR) - length(replace(json::VARCHAR, '{', '')) AS b, "
        f"(json_type(json) <> 'OBJECT')::INTEGER AS n, coalesce(json_keys(json), []) AS keys FROM {objects}))"
    ).fetchone()
    if not_objects:
        return [(None, None, None)]
    if (braces or 0) > _SNIFF_MAX_OBJECTS:
        return _json_key_order(con, path, max_record_bytes)
    described = _described(con, dataset, path, max_record_bytes)
    if {name for name, _, _ in described} != set(keys or []):
        return _json_key_order(con, path, max_record_bytes)
    return described


def _json_key_order(con: duckdb.DuckDBPyConnection, path: Path, max_record_bytes: int) -> list:
    """Every key of a JSON-lines file as written, by first appearance; undeclared ones become text."""
    objects = f"read_ndjson_objects({literal(str(path))}, maximum_object_size = {int(max_record_bytes)})"
    keys = con.execute(
        "SELECT k FROM (SELECT n, unnest(json_keys(json)) AS k, generate_subscripts(json_keys(json), 1) AS i "
        f"FROM (SELECT row_number() OVER () AS n, json FROM {objects})) GROUP BY k ORDER BY min(n), min(i)"
    ).fetchall()
    return [(key, "JSON", None) for (key,) in keys]


def drift_type(column: LandedColumn) -> str:
    """The table type of an undeclared column: text for CSV, else the type of the file's values."""
    kind = (column.sniffed or column.source_type or "VARCHAR").upper()
    if kind.startswith("DECIMAL") or kind in ("DOUBLE", "FLOAT"):
        return "double"
    if kind in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UINTEGER", "USMALLINT", "UTINYINT"):
        return "long"
    return {
        "BOOLEAN": "boolean",
        "DATE": "date",
        "TIMESTAMP": "timestamp",
        "TIMESTAMP_MS": "timestamp",
        "TIMESTAMP_S": "timestamp",
        "TIMESTAMP WITH TIME ZONE": "timestamptz",
    }.get(kind, "string")


def reader_sql(dataset: Dataset, path: Path, columns: list[LandedColumn], max_record_bytes: int) -> str:
    """The table function reading the file: CSV columns as text in header order, JSON values as JSON."""
    source = literal(str(path))
    if dataset.format == "csv":
        # Positional names c0, c1, ... in header order: columns are bound by their header, never
        # by the order of the declaration (a file may list them in any order). max_line_size has
        # room for the line break, which DuckDB counts for some lines only: the limit itself is
        # checked line by line in convert.py.
        dialect = dataset.dialect
        pairs = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(len(columns)))
        options = [
            f"header = {str(dialect.header).lower()}",
            f"skip = {int(dialect.skip_rows)}",
            f"delim = {literal(dialect.delimiter)}",
            f"quote = {literal(dialect.quote)}",
            f"escape = {literal(dialect.escape)}",
        ]
        if dialect.comment:
            options.append(f"comment = {literal(dialect.comment)}")
        if dialect.null_markers:
            options.append(f"nullstr = [{', '.join(literal(marker) for marker in dialect.null_markers)}]")
        else:  # no value is NULL, the empty one neither (DuckDB wants a marker: one no export writes)
            options += ["nullstr = ['\\N\\0']", "allow_quoted_nulls = false"]
        return (
            f"read_csv({source}, auto_detect = false, {', '.join(options)}, strict_mode = true, "
            f"encoding = 'utf-8', max_line_size = {int(max_record_bytes) + 2}, "
            f"buffer_size = {max(int(max_record_bytes) * 2, 16 << 20)}, columns = {{{pairs}}})"
        )
    if dataset.format == "jsonl":
        keys = dict.fromkeys(c.path[0] if c.path else c.original for c in columns)
        pairs = ", ".join(f"{literal(key)}: 'JSON'" for key in keys)
        return (
            f"read_json({source}, format = 'newline_delimited', columns = {{{pairs}}}, "
            f"maximum_object_size = {int(max_record_bytes)})"
        )
    return f"read_parquet({source})"


def source_column(dataset: Dataset, index: int, column: LandedColumn) -> str:
    """SQL for a landed column in `reader_sql`'s relation (a flattened one: its value below its key)."""
    if dataset.format == "csv":
        return quote(f"c{index}")
    if len(column.path) > 1:
        return nested_value(quote(column.path[0]), column.path[1:])
    return quote(column.original)
