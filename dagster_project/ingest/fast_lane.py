"""The fast lane: many small CSV files of one header converted by ONE DuckDB query, one staged file each.

A batch of hundreds of small files is bound by per-file cost (a query planned, a Parquet writer
opened and closed per file), not by rows. When every file of a group is plain UTF-8 CSV with the
same header, adds no column and has no row that does not fit, one `read_csv` over the whole list
casts them all exactly as `convert.py` does per file (the same all-text reader and the same
casts), the lineage of each file joined in by its file name; the result is split into one Parquet
file per landed file, so publishing, the gate and the handled-files manifest see each file as
before. Anything else (a bad row, another header, drift, a duplicate, a change while reading)
makes the whole group go the per-file way, where quarantine, drift and line numbers are decided.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq

from dagster_project.ingest.casts import literal
from dagster_project.ingest.columns import match_to_table, prepared
from dagster_project.ingest.convert import Converted, Limits, cast_values
from dagster_project.ingest.decode import compression_of
from dagster_project.ingest.lines import first_line_over
from dagster_project.ingest.read_ahead import needs_work
from dagster_project.ingest.sources import (
    FileRejected,
    csv_header,
    landed_columns,
    precheck,
    reader_sql,
)
from dagster_project.ingest.units import Handled, Lineage, Unit
from dagster_project.registry import Dataset

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 4 << 20  # a bigger file is better streamed on its own (convert.py)
MAX_GROUP_BYTES = 256 << 20  # the group's rows are held in memory once, as Arrow
MAX_GROUP_FILES = 500  # each fetched file holds a descriptor open until the group is converted
_GLOB = ("*", "?", "[", "]", "{", "}")
_UNFIT = "foundation: a row does not fit its column types"
_FILES = "foundation-fast-lane-files"  # placeholder for the file list in `reader_sql`'s text

GroupConverter = Callable[
    [list[Unit], list[Path], list[dict[str, str]], dict[str, str], Path], list[Converted] | None
]


def eligible(dataset: Dataset, units: Sequence[Unit]) -> bool:
    """Whether a group of units may try the fast lane: small plain UTF-8 CSV files, no companions."""
    if dataset.format != "csv" or dataset.dialect.encoding != "utf-8" or len(units) < 2:
        return False
    if any(u.companions or u.file.size > MAX_FILE_BYTES for u in units):
        return False
    if sum(u.file.size for u in units) > MAX_GROUP_BYTES:
        return False
    return all(compression_of(dataset, u.label) == "none" for u in units)


def take_group(
    units: Sequence[Unit],
    convert_group: GroupConverter,
    landing,  # noqa: ANN001 - LocalLanding | S3Landing
    scratch: Path,
    handled: Handled,
    lineage_base: Lineage,
    table_columns: dict[str, str],
) -> list[tuple[Unit, str, Converted]] | None:
    """Fetch and convert a group at once: (version read, checksum, converted) per unit, or None.

    None means nothing was recorded and nothing is kept: the caller takes the group one by one.
    Only the fetched versions' identities are checked here, as `read_ahead` does; the caller
    records everything.
    """
    out_dir = scratch / f"group-{uuid.uuid4().hex}"  # never a landing key: keys may be any bytes
    try:
        with ExitStack() as stack:
            fetched = [stack.enter_context(landing.fetch(u.file, scratch)) for u in units]
            checksums = [f.checksum for f in fetched]
            if len(set(checksums)) != len(checksums):
                return None  # two files with the same bytes: the per-file way records the duplicate
            taken = [Unit(f.file) for f in fetched]
            identities = [(u.file.uri, c) for u, c in zip(taken, checksums, strict=True)]
            if not all(needs_work(handled, identity, landing.uri) for identity in identities):
                return None
            lineages = [lineage_base.values(u, c) for u, c in zip(taken, checksums, strict=True)]
            converted = convert_group(taken, [f.path for f in fetched], lineages, table_columns, out_dir)
    except Exception:  # noqa: BLE001 - a change while reading, the environment: the per-file way decides
        converted = None
    if converted is None:
        shutil.rmtree(out_dir, ignore_errors=True)
        return None
    return list(zip(taken, checksums, converted, strict=True))


def convert_groups(
    dataset: Dataset,
    units: Sequence[Unit],
    convert_group: GroupConverter,
    landing,  # noqa: ANN001 - LocalLanding | S3Landing
    scratch: Path,
    handled: Handled,
    lineage_base: Lineage,
    table_columns: dict[str, str],
    *,
    stage: Callable[[Unit, str, Converted], None],
    log: logging.Logger,
) -> list[Unit]:
    """Groups of small files first, in order, each staged before the next is taken (so a later
    group sees what an earlier one staged); returns the units left for the per-file way: from the
    first group the fast lane cannot take whole, all of them (that way records what went wrong)."""
    units = list(units)
    total, done = len(units), 0
    while eligible(dataset, units[:MAX_GROUP_FILES]):
        group = take_group(
            units[:MAX_GROUP_FILES], convert_group, landing, scratch, handled, lineage_base, table_columns
        )
        if group is None:
            break
        done += len(group)
        log.info("[%d/%d] %s: %d file(s) converted together", done, total, dataset.table, len(group))
        for unit, checksum, converted in group:
            stage(unit, checksum, converted)
        units = units[MAX_GROUP_FILES:]
    return units


def convert_group(
    con: duckdb.DuckDBPyConnection,
    dataset: Dataset,
    paths: list[Path],
    labels: list[str],
    lineages: list[dict[str, str]],
    table_columns: dict[str, str],
    out_dir: Path,
    limits: Limits,
) -> list[Converted] | None:
    """Convert small CSV files of one header in one query; one staged file each, or None.

    Args:
        con: DuckDB connection from `convert.connect`.
        dataset: The dataset (CSV, plain UTF-8: see `eligible`).
        paths: Local paths of the fetched files.
        labels: How each file is named (its landing key).
        lineages: Each file's lineage values, as `convert_file` takes them (one run).
        table_columns: The table's current data columns.
        out_dir: Where the staged files go (`<n>.parquet`, n the file's place in `paths`).
        limits: The limits each file must keep.

    Returns:
        The converted files in `paths` order; None when any file would not convert cleanly alone
        (rejected, a row that does not fit, another header, new columns): then nothing is kept.
    """
    if any(any(c in str(p) for c in _GLOB) for p in paths):
        return None
    if len({lin["_run_id"] for lin in lineages}) != 1:
        return None
    try:
        header = None
        for path, label in zip(paths, labels, strict=True):
            precheck(dataset, path, label)
            names = csv_header(dataset, path, label, limits.max_record_bytes)
            if header is not None and names != header:
                return None
            header = names
            if first_line_over(path, limits.max_record_bytes) is not None:
                return None
        columns = match_to_table(
            landed_columns(con, dataset, paths[0], labels[0], limits.max_record_bytes),
            table_columns,
            labels[0],
        )
    except (FileRejected, OSError, duckdb.Error):
        return None
    by_name = {c.name: (i, c) for i, c in enumerate(columns)}
    if len(columns) > limits.max_columns or any(c.name not in table_columns for c in columns):
        return None  # a limit or drift: the per-file way rejects or adds columns, one file at a time
    if not any(c.name in by_name for c in dataset.columns):
        return None
    # The same casts and checks as convert.py's one pass, on the same all-text relation.
    casts, values = cast_values(dataset, columns, table_columns, limits)
    single = reader_sql(dataset, Path(_FILES), columns, limits.max_record_bytes)
    listing = "[" + ", ".join(literal(str(p)) for p in paths) + "]"
    many = single.replace(literal(_FILES), f"{listing}, filename = true", 1)
    reader = prepared(dataset, many, columns)
    lineage = ", ".join(
        f"({literal(str(p))}, {n}, {literal(lin['_source_file'])}, {literal(lin['_source_checksum'])}, "
        f"CAST({literal(lin['_ingested_at'])} AS TIMESTAMPTZ))"
        for n, (p, lin) in enumerate(zip(paths, lineages, strict=True))
    )
    values += [
        "l_.f_sf AS _source_file",
        "l_.f_sc AS _source_checksum",
        "l_.f_ia AS _ingested_at",
    ]
    bad = " OR ".join(f"({c.problem}) IS NOT NULL" for c in casts.values())
    guarded = f"CASE WHEN {bad} THEN error({literal(_UNFIT)}) ELSE {literal(lineages[0]['_run_id'])} END"
    sql = (
        f"SELECT l_.f_n AS f_n__, {', '.join(values)}, {guarded} AS _run_id "
        f"FROM {reader} AS r_ JOIN (VALUES {lineage}) AS l_(f_path, f_n, f_sf, f_sc, f_ia) "
        "ON r_.filename = l_.f_path ORDER BY f_n__"
    )
    try:
        result = con.execute(sql).fetch_arrow_table()
    except duckdb.Error:
        return None  # a row that does not fit, or a file DuckDB cannot read: the per-file way says which
    numbers = result.column("f_n__").to_numpy()
    counts = np.bincount(numbers, minlength=len(paths))
    if not counts.all():
        return None  # a file with a header and no rows is rejected, by the per-file way
    table = result.drop_columns(["f_n__"])
    out_dir.mkdir(parents=True, exist_ok=True)
    converted: list[Converted] = []
    start = 0
    for n, rows in enumerate(counts.tolist()):
        out = out_dir / f"{n:05d}.parquet"
        pq.write_table(table.slice(start, rows), out, compression="snappy")
        converted.append(Converted(path=out, rows=rows))
        start += rows
    return converted
