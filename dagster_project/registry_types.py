"""The registry's vocabulary and dataclasses: what a dataset, its columns and its dialect are.

Both `registry_spec.py` (the schema that validates `sources.yml`) and `registry.py` (which loads it)
build on this module, so neither has to import the other.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass

FORMATS = ("csv", "jsonl", "parquet")
# What a value that does not fit its column's type does: quarantine its row, or the whole file.
BAD_ROW_POLICIES = ("rows", "file")
ENCODINGS = ("utf-8", "utf-16", "latin-1", "cp1252")
COMPRESSIONS = ("auto", "none", "gzip", "zstd", "bz2")
COMPRESSED_SUFFIXES = (".gz", ".gzip", ".zst", ".zstd", ".bz2")  # matched as the name without them
NESTED_MODES = ("struct", "flatten")
# What the same bytes landed again under another key are: skipped as a duplicate, or ingested again.
DUPLICATE_POLICIES = ("skip", "allow")
PII_KINDS = ("name", "email", "phone", "free_text", "other")
PRIMITIVE_TYPES = ("string", "int", "long", "float", "double", "boolean", "date", "timestamp", "timestamptz")
DECIMAL_TYPE = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
OWNER = re.compile(r"^(team:[A-Za-z0-9_-]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")


@dataclass(frozen=True)
class Column:
    """A declared column: name, Iceberg type name, description and PII kind (None if not PII)."""

    name: str
    type: str
    description: str = ""
    pii: str | None = None


@dataclass(frozen=True)
class Dialect:
    """How a dataset's files are written: the registry's `encoding`, `compression`, `csv`, `formats`, `json`.

    Defaults are what the platform always read: UTF-8, compression from the file suffix, RFC 4180
    CSV with a header, empty fields as NULL, ISO 8601 dates and timestamps (naive ones in UTC).
    """

    encoding: str = "utf-8"  # transcoded to UTF-8 before reading: utf-8, utf-16, latin-1, cp1252
    compression: str = "auto"  # auto: from the suffix (.gz, .zst, .bz2); or none, gzip, zstd, bz2
    delimiter: str = ","
    quote: str = '"'
    escape: str = '"'
    header: bool = True  # False: the file has no header line; columns in declaration order
    skip_rows: int = 0  # lines before the header (or before the data when there is no header)
    comment: str | None = None  # lines starting with this are not data
    null_markers: tuple[str, ...] = ("",)  # field values read as NULL
    decimal: str = "."  # the decimal separator of numbers ("," for decimal comma)
    date_format: str | None = None  # strftime-style format of date values; None: ISO 8601
    timestamp_format: str | None = None  # strftime-style format of timestamp values; None: ISO 8601
    timezone: str | None = None  # IANA zone of naive timestamps; None: UTC
    nested: str = "struct"  # JSON lines: nested objects kept in one column, or flattened to a_b columns


@dataclass(frozen=True)
class Dataset:
    """One landing dataset, from which the raw asset, its sensor and its checks are generated."""

    name: str
    description: str
    owner: str
    prefix: str
    glob: str
    format: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    partition_column: str | None
    freshness_max_age_hours: float | None
    dialect: Dialect = Dialect()
    bad_rows: str = "rows"  # a row whose value does not fit its type: 'rows' quarantines it, 'file' the file
    duplicates: str = "skip"  # the same bytes under another key: 'skip' (recorded) or 'allow'

    @property
    def table(self) -> str:
        """The Iceberg identifier of the raw table, e.g. `raw.orders`."""
        return f"raw.{self.name}"

    @property
    def pii_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.pii)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def matches(self, relative_path: str) -> bool:
        """Whether a landing path (relative to the landing root) belongs to this dataset.

        The name must match the glob, or be a name that does with a compression suffix added
        (`.gz`, `.zst`, `.bz2`), unless the dataset declares `compression: none`.
        """
        if not relative_path.startswith(self.prefix):
            return False
        name = relative_path[len(self.prefix) :]
        base = name.rsplit("/", 1)[-1]
        # Hidden and underscore files are writers' temporaries (Spark, Hadoop, rsync convention).
        if base.startswith((".", "_")):
            return False
        if fnmatch.fnmatchcase(base, self.glob):
            return True
        # A compressed file matches as its name without the suffix: `orders.csv.gz` for `*.csv`.
        stem, dot, suffix = base.rpartition(".")
        compressed = (
            dot and f".{suffix.lower()}" in COMPRESSED_SUFFIXES and self.dialect.compression != "none"
        )
        return bool(compressed) and fnmatch.fnmatchcase(stem, self.glob)
