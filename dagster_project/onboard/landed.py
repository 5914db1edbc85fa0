"""What landed files are, byte by byte: format, compression, encoding, CSV dialect, and their records.

Onboarding reads files the ingest has never seen, so nothing here trusts a declaration: each file's
compression comes from its magic bytes, its encoding from a full UTF-8 decode (else
charset-normalizer's best guess), and a CSV file's dialect from Python's sniffer on its start.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import charset_normalizer
import pyarrow.parquet as pq
import zstandard

from dagster_project.errors import FoundationError
from dagster_project.ingest.sources import normalize_name

SNIFF_BYTES = 64 << 10
MAGIC = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"BZh", "bz2"))
COMPRESSED_SUFFIXES = {".gz": "gzip", ".zst": "zstd", ".bz2": "bz2"}
FORMAT_SUFFIXES = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# charset-normalizer's codec names → the registry's encodings (what the ingest transcodes).
ENCODING_NAMES = {
    "utf_8": "utf-8",
    "ascii": "utf-8",
    "utf_16": "utf-16",
    "utf_16_le": "utf-16",
    "utf_16_be": "utf-16",
    "latin_1": "latin-1",
    "iso8859_1": "latin-1",
    "iso8859_15": "latin-1",
    "cp1252": "cp1252",
}
PYTHON_CODECS = {"utf-8": "utf-8-sig", "utf-16": "utf-16", "latin-1": "latin-1", "cp1252": "cp1252"}


class OnboardError(FoundationError):
    """Landed files cannot be onboarded as asked; the message names the prefix or file and the fix."""


class JsonNumber(str):
    """A JSON number with a fraction or exponent, kept as written (its scale decides decimal or double)."""


@dataclass(frozen=True)
class Dialect:
    """A CSV file's dialect as sniffed: the registry's `csv:` keys that onboarding infers."""

    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    header: bool = True
    comment: str | None = None


def compression_of(path: Path) -> str | None:
    """The compression of a file from its first bytes (None: not compressed)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return next((name for magic, name in MAGIC if head.startswith(magic)), None)


def format_of(key: str, path: Path, compression: str | None) -> str:
    """csv, jsonl or parquet: from the name's suffix (past a compression suffix), else the content."""
    name = key.lower()
    for suffix in COMPRESSED_SUFFIXES:
        name = name.removesuffix(suffix)
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix in FORMAT_SUFFIXES:
        return FORMAT_SUFFIXES[suffix]
    with open_bytes(path, compression) as handle:
        head = handle.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    return "jsonl" if head.lstrip().startswith(b"{") else "csv"


def open_bytes(path: Path, compression: str | None) -> IO[bytes]:
    """The file's bytes, decompressed."""
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "bz2":
        return bz2.open(path, "rb")
    if compression == "zstd":
        return zstandard.open(path, "rb")
    return open(path, "rb")


def encoding_of(path: Path, compression: str | None, label: str) -> str:
    """The registry encoding of a text file: UTF-8 if every byte decodes as UTF-8, else the best guess."""
    with open_bytes(path, compression) as handle:
        head = handle.read(SNIFF_BYTES)
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return "utf-16"
        decoder = codecs.getincrementaldecoder("utf-8")()
        chunk = head
        try:
            while chunk:
                decoder.decode(chunk)
                chunk = handle.read(1 << 20)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    guess = charset_normalizer.from_bytes(head).best()
    name = ENCODING_NAMES.get(guess.encoding if guess else "", None)
    if name in (None, "utf-8"):
        # Bytes 0x80-0x9f are printable in CP-1252 only; without them Latin-1 reads the same.
        name = "cp1252" if re.search(rb"[\x80-\x9f]", head) else "latin-1"
    if name not in PYTHON_CODECS:
        raise OnboardError(f"{label}: text in an encoding the platform cannot read; re-export as UTF-8")
    return name


def open_text(path: Path, compression: str | None, encoding: str) -> IO[str]:
    return io.TextIOWrapper(open_bytes(path, compression), encoding=PYTHON_CODECS[encoding], newline="")


def sniff_dialect(path: Path, compression: str | None, encoding: str) -> Dialect:
    """The CSV dialect of a file's start: delimiter, quote, escape, comment lines, header or none."""
    with open_text(path, compression, encoding) as handle:
        sample = handle.read(SNIFF_BYTES)
    lines = sample.splitlines()
    comment = "#" if any(line.startswith("#") for line in lines[:20]) else None
    body = "\n".join(line for line in lines if not (comment and line.startswith(comment)))
    try:
        sniffed = csv.Sniffer().sniff(body, delimiters=",;\t|")
        delimiter, quote = sniffed.delimiter, sniffed.quotechar or '"'
        escape = sniffed.escapechar if not sniffed.doublequote and sniffed.escapechar else quote
    except csv.Error:
        delimiter, quote, escape = ",", '"', '"'
    first = next(csv.reader(io.StringIO(body), delimiter=delimiter, quotechar=quote), [])
    return Dialect(delimiter, quote, escape, looks_like_header(first), comment)


_VALUE_LIKE = re.compile(r"^\s*([+-]?[0-9.,]+([eE][+-]?[0-9]+)?|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}.*)\s*$")


def looks_like_header(row: list[str]) -> bool:
    """A first row is a header when every field is a distinct name, none empty, none a number or date."""
    names = [normalize_name(f) for f in row]
    return (
        bool(row)
        and all(f.strip() for f in row)
        and len(set(names)) == len(names)
        and not any(_VALUE_LIKE.match(f) or f.strip().lower() in ("true", "false") for f in row)
    )


def csv_records(
    path: Path, compression: str | None, encoding: str, dialect: Dialect
) -> Iterator[tuple[int, dict[str, str]]]:
    """(record number, {name as written: text}) for every data row; names column_N without a header."""
    with open_text(path, compression, encoding) as handle:
        lines: Iterator[str] = handle
        if dialect.comment:
            lines = (line for line in handle if not line.startswith(dialect.comment))
        options: dict[str, Any] = {"delimiter": dialect.delimiter, "quotechar": dialect.quote}
        if dialect.escape != dialect.quote:
            options |= {"escapechar": dialect.escape, "doublequote": False}
        reader = csv.reader(lines, **options)
        names = next(reader, []) if dialect.header else None
        for number, row in enumerate(reader, start=1):
            if not row or row == [""]:
                continue
            keys = names or [f"column_{i}" for i in range(1, len(row) + 1)]
            yield number, dict(zip(keys, row, strict=False))


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def json_records(
    path: Path, compression: str | None, encoding: str, label: str
) -> Iterator[tuple[int, dict[str, Any], bool]]:
    """(line number, flattened record, whether it was nested) for every JSON-lines record."""
    with open_text(path, compression, encoding) as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line, parse_float=JsonNumber)
            except json.JSONDecodeError as exc:
                raise OnboardError(
                    f"{label}: line {number}: not a JSON object ({exc.msg}); fix the line or move the file "
                    "out of the prefix"
                ) from exc
            if not isinstance(record, dict):
                raise OnboardError(f"{label}: line {number}: a JSON value that is not an object")
            nested = any(isinstance(v, dict) for v in record.values())
            yield number, _flatten(record), nested


def parquet_schema(path: Path) -> Any:
    return pq.read_schema(path)


def parquet_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, record) for every row of a Parquet file, read in batches."""
    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=8192):
        for record in batch.to_pylist():
            number += 1
            yield number, record
