"""The source registry: parses and validates `sources.yml`, the one declaration of every dataset."""

from __future__ import annotations

import fnmatch
import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from dagster_project.errors import FoundationError

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
LINEAGE_COLUMNS = ("_source_file", "_source_checksum", "_ingested_at", "_run_id")


class RegistryError(FoundationError, ValueError):
    """The source registry file is malformed; the message names the file, the dataset and the fix."""


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
    def csv_delimiter(self) -> str:
        return self.dialect.delimiter

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


@dataclass(frozen=True)
class Registry:
    """All datasets, in declaration order."""

    path: Path
    datasets: tuple[Dataset, ...]

    def __getitem__(self, name: str) -> Dataset:
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        known = ", ".join(d.name for d in self.datasets)
        raise KeyError(f"no dataset {name!r} in {self.path} (known: {known})")

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.datasets)

    def names(self) -> list[str]:
        return [d.name for d in self.datasets]


def _fail(path: Path, where: str, message: str) -> RegistryError:
    return RegistryError(f"{path}: {where}: {message}")


def _only(path: Path, where: str, name: str, mapping: Any, allowed: set[str]) -> None:
    if not isinstance(mapping, dict):
        raise _fail(path, where, f"{name} must be a mapping")
    unknown = set(mapping) - allowed
    if unknown:
        raise _fail(
            path, where, f"{name}: unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _check_type(path: Path, where: str, type_name: Any) -> str:
    if not isinstance(type_name, str):
        raise _fail(path, where, f"type must be a string such as 'long', got {type_name!r}")
    type_name = type_name.strip().lower()
    if type_name in PRIMITIVE_TYPES:
        return type_name
    match = DECIMAL_TYPE.match(type_name)
    if match and 0 < int(match.group(1)) <= 38 and int(match.group(2)) <= int(match.group(1)):
        return f"decimal({match.group(1)},{match.group(2)})"
    raise _fail(
        path,
        where,
        f"unknown type {type_name!r}; use one of {', '.join(PRIMITIVE_TYPES)} or decimal(P,S) with P <= 38",
    )


def _parse_columns(path: Path, where: str, raw: Any) -> tuple[Column, ...]:
    if not isinstance(raw, dict) or not raw:
        raise _fail(path, where, "'columns' must map column names to {type, description, pii}")
    columns = []
    for name, spec in raw.items():
        col_where = f"{where}.columns.{name}"
        if isinstance(name, str) and name.startswith("_"):
            raise _fail(path, col_where, "names starting with '_' are reserved for lineage columns")
        if not isinstance(name, str) or not NAME.match(name):
            raise _fail(path, col_where, "column names are lower_snake_case")
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, dict):
            raise _fail(path, col_where, "expected {type: ..., description: ...}")
        unknown = set(spec) - {"type", "description", "pii"}
        if unknown:
            raise _fail(path, col_where, f"unknown key(s) {sorted(unknown)}; allowed: type, description, pii")
        pii = spec.get("pii")
        if pii is not None and pii not in PII_KINDS:
            raise _fail(path, col_where, f"pii must be one of {', '.join(PII_KINDS)}, got {pii!r}")
        columns.append(
            Column(
                name=name,
                type=_check_type(path, col_where, spec.get("type")),
                description=str(spec.get("description") or ""),
                pii=pii,
            )
        )
    return tuple(columns)


def _char(path: Path, where: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or len(value) != 1:
        raise _fail(path, where, f"{key} must be one character, got {value!r}")
    return value


def _parse_dialect(path: Path, where: str, raw: dict, fmt: str) -> Dialect:
    """The dataset's `encoding`, `compression`, `csv`, `formats` and `json` keys."""
    encoding = str(raw.get("encoding", "utf-8")).strip().lower().replace("_", "-")
    encoding = {"utf8": "utf-8", "latin1": "latin-1", "iso-8859-1": "latin-1", "windows-1252": "cp1252"}.get(
        encoding, encoding
    )
    if encoding not in ENCODINGS:
        raise _fail(
            path, where, f"encoding must be one of {', '.join(ENCODINGS)}, got {raw.get('encoding')!r}"
        )
    compression = str(raw.get("compression", "auto")).strip().lower()
    if compression not in COMPRESSIONS:
        raise _fail(path, where, f"compression must be one of {', '.join(COMPRESSIONS)}, got {compression!r}")
    csv_options = raw.get("csv") or {}
    _only(
        path,
        where,
        "csv",
        csv_options,
        {"delimiter", "quote", "escape", "header", "skip_rows", "comment", "null_markers", "decimal"},
    )
    if csv_options and fmt != "csv":
        raise _fail(path, where, f"a csv: block applies to format csv only, and this dataset is {fmt}")
    csv_where = f"{where}.csv"
    header = csv_options.get("header", True)
    if not isinstance(header, bool):
        raise _fail(path, csv_where, f"header must be true or false, got {header!r}")
    skip_rows = csv_options.get("skip_rows", 0)
    if not isinstance(skip_rows, int) or isinstance(skip_rows, bool) or skip_rows < 0:
        raise _fail(path, csv_where, f"skip_rows must be a whole number >= 0, got {skip_rows!r}")
    comment = csv_options.get("comment")
    nulls = csv_options.get("null_markers", [""])
    nulls = [nulls] if isinstance(nulls, str) else nulls
    if not isinstance(nulls, list) or not all(isinstance(n, str) for n in nulls):
        raise _fail(
            path, csv_where, f"null_markers must be a list of strings such as ['', 'NA'], got {nulls!r}"
        )
    decimal = csv_options.get("decimal", ".")
    if decimal not in (".", ","):
        raise _fail(path, csv_where, f"decimal must be '.' or ',', got {decimal!r}")
    delimiter = _char(path, csv_where, "delimiter", csv_options.get("delimiter", ","))
    if decimal == delimiter:
        raise _fail(
            path, csv_where, "decimal and delimiter are both ','; a decimal comma needs another delimiter"
        )
    formats = raw.get("formats") or {}
    _only(path, where, "formats", formats, {"date", "timestamp", "timezone"})
    for key in ("date", "timestamp"):
        value = formats.get(key)
        if value is not None and (not isinstance(value, str) or "%" not in value):
            raise _fail(
                path, f"{where}.formats", f"{key} must be a strftime format such as '%d/%m/%Y', got {value!r}"
            )
    zone = formats.get("timezone")
    if zone is not None:
        try:
            zoneinfo.ZoneInfo(str(zone))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise _fail(
                path, f"{where}.formats", f"timezone {zone!r} is not an IANA zone such as 'Europe/Paris'"
            ) from exc
    json_options = raw.get("json") or {}
    _only(path, where, "json", json_options, {"nested"})
    if json_options and fmt != "jsonl":
        raise _fail(path, where, f"a json: block applies to format jsonl only, and this dataset is {fmt}")
    nested = json_options.get("nested", "struct")
    if nested not in NESTED_MODES:
        raise _fail(path, f"{where}.json", f"nested must be one of {', '.join(NESTED_MODES)}, got {nested!r}")
    return Dialect(
        encoding=encoding,
        compression=compression,
        delimiter=delimiter,
        quote=_char(path, csv_where, "quote", csv_options.get("quote", '"')),
        escape=_char(path, csv_where, "escape", csv_options.get("escape", '"')),
        header=header,
        skip_rows=skip_rows,
        comment=None if comment is None else _char(path, csv_where, "comment", comment),
        null_markers=tuple(nulls),
        decimal=decimal,
        date_format=formats.get("date"),
        timestamp_format=formats.get("timestamp"),
        timezone=None if zone is None else str(zone),
        nested=nested,
    )


def _parse_dataset(path: Path, name: Any, raw: Any) -> Dataset:
    where = f"datasets.{name}"
    if not isinstance(name, str) or not NAME.match(name):
        raise _fail(path, where, "dataset names are lower_snake_case (they become table names)")
    if not isinstance(raw, dict):
        raise _fail(path, where, "expected a mapping of dataset settings")
    required = ("description", "owner", "landing", "format", "columns", "primary_key")
    allowed = set(required) | {
        "partition_column",
        "freshness",
        "csv",
        "bad_rows",
        "encoding",
        "compression",
        "formats",
        "json",
        "duplicates",
    }
    unknown = set(raw) - allowed
    if unknown:  # before 'missing': a misspelt key is both, and its name is the useful clue
        raise _fail(path, where, f"unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")
    missing = [key for key in required if key not in raw]
    if missing:
        raise _fail(path, where, f"missing required key(s): {', '.join(missing)}")
    fmt = raw["format"]
    if fmt not in FORMATS:
        raise _fail(path, where, f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    owner = str(raw["owner"])
    if not OWNER.match(owner):
        raise _fail(path, where, f"owner {owner!r} must be an email address or 'team:<name>'")
    landing = raw["landing"]
    if isinstance(landing, str):
        landing = {"prefix": landing}
    if not isinstance(landing, dict) or not landing.get("prefix"):
        raise _fail(path, where, "landing needs a prefix, e.g. landing: {prefix: orders/, glob: '*.csv'}")
    _only(path, where, "landing", landing, {"prefix", "glob"})
    prefix = str(landing["prefix"]).strip("/") + "/"
    if ".." in prefix.split("/"):
        raise _fail(path, where, "landing prefix may not contain '..'")
    columns = _parse_columns(path, where, raw["columns"])
    names = {c.name for c in columns}
    pk = raw["primary_key"]
    pk = [pk] if isinstance(pk, str) else pk
    if not isinstance(pk, list) or not pk or any(k not in names for k in pk):
        raise _fail(path, where, f"primary_key {pk!r} must list declared columns")
    partition = raw.get("partition_column")
    if partition is not None and partition not in names:
        raise _fail(path, where, f"partition_column {partition!r} is not a declared column")
    freshness = raw.get("freshness") or {}
    max_age = freshness.get("max_age_hours") if isinstance(freshness, dict) else None
    if freshness and (not isinstance(max_age, int | float) or max_age <= 0):
        raise _fail(path, where, "freshness must be {max_age_hours: <positive number>}")
    if isinstance(freshness, dict):
        _only(path, where, "freshness", freshness, {"max_age_hours"})
    dialect = _parse_dialect(path, where, raw, fmt)
    bad_rows = raw.get("bad_rows", "rows")
    if bad_rows not in BAD_ROW_POLICIES:
        raise _fail(path, where, f"bad_rows must be one of {', '.join(BAD_ROW_POLICIES)}, got {bad_rows!r}")
    duplicates = raw.get("duplicates", "skip")
    if duplicates not in DUPLICATE_POLICIES:
        raise _fail(
            path, where, f"duplicates must be one of {', '.join(DUPLICATE_POLICIES)}, got {duplicates!r}"
        )
    return Dataset(
        name=name,
        description=str(raw["description"]).strip(),
        owner=owner,
        prefix=prefix,
        glob=str(landing.get("glob") or f"*.{fmt}"),
        format=fmt,
        columns=columns,
        primary_key=tuple(pk),
        partition_column=partition,
        freshness_max_age_hours=float(max_age) if max_age else None,
        dialect=dialect,
        bad_rows=bad_rows,
        duplicates=duplicates,
    )


def load_registry(path: Path) -> Registry:
    """Parse and validate a registry file.

    Args:
        path: The YAML file (`sources.yml` by default).

    Returns:
        The registry.

    Raises:
        RegistryError: The file is missing, not YAML, or a dataset is declared wrongly.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RegistryError(f"{path}: registry file not found; set FOUNDATION_SOURCES_FILE") from exc
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("datasets"), dict):
        raise RegistryError(f"{path}: expected a top-level 'datasets:' mapping of dataset name -> settings")
    if document.get("version", 1) != 1:
        raise RegistryError(f"{path}: unsupported registry version {document.get('version')!r}; expected 1")
    datasets = tuple(_parse_dataset(path, name, raw) for name, raw in document["datasets"].items())
    prefixes: dict[str, str] = {}
    for dataset in datasets:
        if dataset.prefix in prefixes:
            raise _fail(
                path,
                f"datasets.{dataset.name}",
                f"landing prefix {dataset.prefix!r} is already used by {prefixes[dataset.prefix]!r}",
            )
        prefixes[dataset.prefix] = dataset.name
    return Registry(path=path, datasets=datasets)
