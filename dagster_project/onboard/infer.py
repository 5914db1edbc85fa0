"""Infers a source's declaration from what landed under its prefix: a sample, then every file in full.

The sample (the first rows of the first files) sets the dialect, the null markers and each column's
first type; the full pass reads every row of every file, widens a type a later value does not fit
(long → decimal → double → string) and says where, and feeds a DuckDB table from which the primary
key is found: the first unique, never-null column, else the first unique pair or triple.
"""

from __future__ import annotations

import itertools
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from dagster_project.ingest.sources import normalize_name, quote
from dagster_project.landing.store import LandedFile
from dagster_project.landing.zone import open_landing
from dagster_project.onboard import landed
from dagster_project.onboard.inferred import Inferred
from dagster_project.onboard.keys import primary_key
from dagster_project.onboard.landed import OnboardError
from dagster_project.onboard.profile import (
    DATE_FORMATS,
    ISO,
    STRING,
    TIMESTAMP_FORMATS,
    ColumnProfile,
    classify_json,
    classify_text,
    decimal_comma,
    null_markers,
    pii_kind,
)
from dagster_project.onboard.types import arrow_type_name
from dagster_project.registry import NAME
from dagster_project.settings import Settings

SAMPLE_ROWS = 2000
SAMPLE_FILES = 5
BATCH_ROWS = 20_000

_EVENT_TIME = re.compile(r"(_at|_date|_time|_ts|timestamp|date|time)$")


def _listed(settings: Settings, prefix: str) -> tuple[Any, list[LandedFile]]:
    store = open_landing(settings)
    files = sorted((f for f in store.list(prefix) if not f.name.startswith((".", "_"))), key=lambda f: f.key)
    if not files:
        raise OnboardError(
            f"no files under {prefix!r} in the landing zone {settings.landing_uri}; land a few first "
            "(every later file is read with what `sources add` infers from these)"
        )
    return store, files


@dataclass
class _File:
    key: str
    format: str
    compression: str | None
    encoding: str


def infer_source(settings: Settings, prefix: str, fmt: str | None = None) -> Inferred:
    """Read every file under `prefix` and infer the source's declaration.

    Args:
        settings: Where the landing zone is.
        prefix: The landing prefix, e.g. `orders/`.
        fmt: csv, jsonl or parquet; None: from the files (all under the prefix must agree).

    Returns:
        The inferred declaration, with notes on what was widened or guessed.

    Raises:
        OnboardError: No files, files of several formats, no rows, or unusable column names.
    """
    prefix = prefix.strip("/") + "/"
    store, listed = _listed(settings, prefix)
    with tempfile.TemporaryDirectory(prefix="onboard-") as scratch_dir:
        scratch = Path(scratch_dir)
        shapes: list[_File] = []
        notes: list[str] = []
        seen: dict[str, str] = {}
        skipped: list[tuple[str, str]] = []
        for file in listed:
            with store.fetch(file, scratch) as fetched:
                # The ingest skips a file whose bytes landed before under another name: so does this.
                if fetched.checksum in seen:
                    skipped.append((file.key, seen[fetched.checksum]))
                    continue
                seen[fetched.checksum] = file.key
                compression = landed.compression_of(fetched.path)
                kind = landed.format_of(file.key, fetched.path, compression)
                text = kind != "parquet"
                encoding = landed.encoding_of(fetched.path, compression, file.label) if text else "utf-8"
                shapes.append(_File(file.key, kind, compression, encoding))
        formats = sorted({s.format for s in shapes})
        if fmt is None and len(formats) > 1:
            raise OnboardError(
                f"{prefix}: files of several formats ({', '.join(formats)}); pick one with --format "
                "or give each format its own prefix"
            )
        fmt = fmt or formats[0]
        for key, first in skipped:
            notes.append(f"{key}: the same bytes as {first}; skipped, as the ingest skips duplicates")
        shapes = [s for s in shapes if s.format == fmt]
        if not shapes:
            raise OnboardError(f"{prefix}: no {fmt} files (found {', '.join(formats)})")
        by_key = {f.key: f for f in listed}
        inferred = Inferred(
            prefix=prefix, format=fmt, files=[s.key for s in shapes], rows=0, columns=[], primary_key=[]
        )
        inferred.notes.extend(notes)
        _encoding(inferred, shapes)
        suffixed = all(s.key.lower().endswith((".gz", ".zst", ".bz2")) == bool(s.compression) for s in shapes)
        compressions = {s.compression for s in shapes} - {None}
        if compressions and not suffixed:
            inferred.compression = sorted(compressions)[0]
        con = duckdb.connect()
        con.execute(f"SET temp_directory = '{scratch / 'duckdb'}'; SET memory_limit = '512MB'")
        try:
            _sample(inferred, store, by_key, shapes, scratch)
            _full_pass(inferred, store, by_key, shapes, scratch, con)
            if not inferred.rows:
                raise OnboardError(f"{prefix}: the files hold no rows; land files with data to infer from")
            _settle_formats(inferred, con)
            for column in inferred.columns:
                column.pii = pii_kind(column)
            inferred.primary_key = primary_key(inferred, con)
        finally:
            con.close()
    inferred.partition_column = _partition(inferred.columns)
    return inferred


def _encoding(inferred: Inferred, shapes: list[_File]) -> None:
    encodings = sorted({s.encoding for s in shapes})
    others = [e for e in encodings if e != "utf-8"]
    inferred.encoding = others[0] if others else "utf-8"
    if len(encodings) > 1:
        odd = [s.key for s in shapes if s.encoding == inferred.encoding]
        single_byte = inferred.encoding in ("latin-1", "cp1252")
        inferred.notes.append(
            f"encoding: {len(odd)} of {len(shapes)} file(s) are {inferred.encoding} (e.g. {odd[0]}), "
            f"the rest UTF-8; declared {inferred.encoding}"
            + (
                " (a file that is valid UTF-8 is still read as UTF-8)"
                if single_byte
                else ": the UTF-8 files will be quarantined; re-export them"
            )
        )


def _records(
    shape: _File, path: Path, inferred: Inferred, label: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    if shape.format == "csv":
        yield from landed.csv_records(path, shape.compression, shape.encoding, inferred.dialect)
    elif shape.format == "jsonl":
        for number, record, nested in landed.json_records(path, shape.compression, shape.encoding, label):
            inferred.flatten = inferred.flatten or nested
            yield number, record
    else:
        yield from landed.parquet_records(path)


def _sample(inferred: Inferred, store: Any, by_key: dict, shapes: list[_File], scratch: Path) -> None:
    """Dialect, null markers, decimal comma and first types from the first rows of the first files."""
    texts: dict[str, list[str]] = {}
    taken = 0
    for shape in shapes[:SAMPLE_FILES]:
        with store.fetch(by_key[shape.key], scratch) as fetched:
            if shape.format == "csv" and shape is shapes[0]:
                inferred.dialect = landed.sniff_dialect(fetched.path, shape.compression, shape.encoding)
            for _, record in itertools.islice(
                _records(shape, fetched.path, inferred, shape.key), SAMPLE_ROWS
            ):
                taken += 1
                for name, value in record.items():
                    texts.setdefault(name, []).append(value)
        if taken >= SAMPLE_ROWS:
            break
    if inferred.format == "csv":
        inferred.decimal_comma = decimal_comma(texts, inferred.dialect.delimiter)
        inferred.null_markers = null_markers(texts, inferred.decimal_comma)
    profiles = _profiles(inferred, texts.keys())
    for name, values in texts.items():
        for value in values:
            value = None if inferred.format == "csv" and value in inferred.null_markers else value
            profiles[name].observe(value, _classify(inferred, value))
    # The full pass starts from the sample's types and counts again from zero.
    inferred.columns = [
        ColumnProfile(p.name, p.original, fixed_type=p.fixed_type, value_class=p.value_class)
        for p in profiles.values()
    ]


def _profiles(inferred: Inferred, originals: Any) -> dict[str, ColumnProfile]:
    profiles: dict[str, ColumnProfile] = {}
    seen: dict[str, str] = {}
    for original in originals:
        name = normalize_name(original)
        if name in seen:
            raise OnboardError(
                f"{inferred.prefix}: columns {seen[name]!r} and {original!r} both become {name!r}; "
                "rename one in the export"
            )
        if not NAME.match(name):
            raise OnboardError(
                f"{inferred.prefix}: column {original!r} becomes {name!r}, which does not start with a "
                "letter; rename it in the export"
            )
        seen[name] = original
        profiles[original] = ColumnProfile(name, original)
    return profiles


def _classify(inferred: Inferred, value: Any):  # noqa: ANN202
    if value is None:
        return None
    if inferred.format == "csv":
        return classify_text(value, inferred.decimal_comma)
    if inferred.format == "jsonl":
        return classify_json(value)
    return None  # Parquet: the file's own types


def _full_pass(
    inferred: Inferred, store: Any, by_key: dict, shapes: list[_File], scratch: Path, con: Any
) -> None:
    """Every row of every file: widen types, count, and load the values as text for the key search."""
    profiles = {p.original: p for p in inferred.columns}
    table_columns: list[str] = []
    con.execute("CREATE TABLE landed (_file INTEGER)")
    for file_number, shape in enumerate(shapes):
        with store.fetch(by_key[shape.key], scratch) as fetched:
            if shape.format == "parquet":
                for arrow_field in landed.parquet_schema(fetched.path):
                    found = profiles.get(arrow_field.name)
                    kind = arrow_type_name(arrow_field.type)
                    if found is None:
                        profiles.update(_profiles(inferred, [arrow_field.name]))
                        profiles[arrow_field.name].fixed_type = kind
                    elif found.fixed_type not in (None, kind):
                        inferred.notes.append(
                            f"column {found.name}: {found.fixed_type} in one file, {kind} in {shape.key}; "
                            "declared string"
                        )
                        found.fixed_type = "string"
                    else:
                        found.fixed_type = kind
            batch: dict[str, list[str | None]] = {}
            count = 0
            for number, record in _records(shape, fetched.path, inferred, shape.key):
                for original, value in record.items():
                    if original not in profiles:
                        profiles.update(_profiles(inferred, [original]))
                        inferred.notes.append(
                            f"column {profiles[original].name}: first seen in {shape.key}, after the sample"
                        )
                    profile = profiles[original]
                    if inferred.format == "csv" and value in inferred.null_markers:
                        value = None
                    before = profile.type if profile.value_class is not None else None
                    profile.observe(value, _classify(inferred, value))
                    if before is not None and profile.type != before:
                        inferred.notes.append(
                            f"column {profile.name}: {before} from the sample, widened to {profile.type}: "
                            f"{shape.key} row {number} does not fit {before}"
                        )
                    column = batch.setdefault(profile.name, [None] * count)
                    column.append(None if value is None else str(value))
                count += 1
                for column in batch.values():
                    if len(column) < count:
                        column.append(None)
                if count >= BATCH_ROWS:
                    _load(con, batch, table_columns, file_number)
                    inferred.rows += count
                    batch, count = {}, 0
            if count:
                _load(con, batch, table_columns, file_number)
                inferred.rows += count
    inferred.columns = list(profiles.values())


def _load(con: Any, batch: dict[str, list[str | None]], table_columns: list[str], file_number: int) -> None:
    for name in batch:
        if name not in table_columns:
            con.execute(f"ALTER TABLE landed ADD COLUMN {quote(name)} VARCHAR")
            table_columns.append(name)
    arrow = pa.table({name: pa.array(values, pa.string()) for name, values in batch.items()})
    con.register("batch", arrow)
    con.execute(f"INSERT INTO landed BY NAME SELECT *, {int(file_number)} AS _file FROM batch")
    con.unregister("batch")


def _settle_formats(inferred: Inferred, con: Any) -> None:
    """One date and one timestamp format per dataset (the registry's `formats:`); other columns: string.

    Every value parsed with the chosen format in Python; the ingest parses with DuckDB's `strptime`,
    so each column is checked again there, on every landed value: a column whose values DuckDB
    would not all read with that format is declared string rather than quarantined at ingest.
    """
    for kind, choices in (("date", DATE_FORMATS), ("timestamp", TIMESTAMP_FORMATS)):
        columns = [c for c in inferred.columns if c.fixed_type is None and c.type == kind]
        if not columns:
            continue
        chosen = max(choices, key=lambda f: (sum(f in c.formats for c in columns), -choices.index(f)))
        for column in columns:
            if chosen not in column.formats:
                column.value_class = STRING
                inferred.notes.append(
                    f"column {column.name}: its {kind}s are written another way than the other {kind} "
                    f"columns' ({chosen or 'ISO 8601'}); declared string"
                )
            elif {"%d/%m/%Y", "%m/%d/%Y"} <= {f.split(" ")[0].split("T")[0] for f in column.formats}:
                inferred.notes.append(
                    f"column {column.name}: day-first or month-first is ambiguous (no day above 12); "
                    f"assumed {chosen}: check"
                )
        if chosen != ISO:
            setattr(inferred, f"{kind}_format", chosen)
        for column in columns:
            if column.type != kind:
                continue
            if chosen != ISO and _unreadable(con, column.name, chosen):
                column.value_class = STRING
                inferred.notes.append(
                    f"column {column.name}: not every value reads as {chosen} by the ingest's strptime; "
                    "declared string"
                )
            else:
                column.value_class = replace(column.value_class, formats=(chosen,))
        if not any(c.type == kind for c in columns):
            setattr(inferred, f"{kind}_format", None)
    inferred.naive_timestamps = any(c.type == "timestamp" for c in inferred.columns)


def _unreadable(con: Any, name: str, fmt: str) -> int:
    """How many landed values of a column DuckDB's `try_strptime` (what the ingest runs) cannot read."""
    value = f"trim({quote(name)}, ' \t')"
    return con.execute(
        f"SELECT count(*) FROM landed WHERE {value} <> '' AND try_strptime({value}, ?) IS NULL", [fmt]
    ).fetchone()[0]


def _partition(columns: list[ColumnProfile]) -> str | None:
    """The event-time column: a timestamp named like one, else any timestamp, else a date."""
    temporal = [c for c in columns if c.type in ("timestamp", "timestamptz", "date")]
    temporal.sort(key=lambda c: (c.type == "date", not _EVENT_TIME.search(c.name)))
    return temporal[0].name if temporal else None
