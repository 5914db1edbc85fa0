"""Compaction: rewrite each partition's small data files into fewer larger ones in one `replace` commit."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.io.pyarrow import (
    ArrowScan,
    bin_pack_arrow_table,
    parquet_file_to_data_file,
    pyarrow_to_schema,
    schema_to_pyarrow,
    write_file,
)
from pyiceberg.manifest import DataFile, ManifestContent, ManifestEntry
from pyiceberg.table import FileScanTask, Table, WriteTask

from dagster_project.lakehouse.changes import COMPACTION_PROPERTY, watermarks
from dagster_project.lakehouse.pyiceberg_adapter import stage_rewrite
from dagster_project.lakehouse.table_maintenance import (
    MaintenanceReport,
    table_name,
    table_stats,
    without_commit_retries,
)

log = logging.getLogger(__name__)
# A file below this share of the target size counts as small.
SMALL_SHARE = 0.75
# Table property pyiceberg's writer sizes files by; compaction's write sets it to its target.
TARGET_SIZE_PROPERTY = "write.target-file-size-bytes"


def incremental_sources(catalog: Catalog, manifest: Mapping[str, Any] | None) -> dict[str, set[str]]:
    """Tables read incrementally (by sequence number), each with the tables that read them.

    Consumers are the dbt sources' `meta.consumer` (read `new_rows`) and every table whose
    snapshot summaries record a watermark on another table.
    """
    consumers: dict[str, set[str]] = {}
    for source in (manifest or {}).get("sources", {}).values():
        meta = source.get("meta", {})
        if meta.get("read", "new_rows") != "all" and meta.get("consumer"):
            identifier = meta.get("iceberg_table", f"{source['schema']}.{source['name']}")
            consumers.setdefault(identifier, set()).add(meta["consumer"])
    for namespace in catalog.list_namespaces():
        for identifier in catalog.list_tables(namespace):
            name = ".".join(identifier)
            for source in watermarks(catalog.load_table(name)):
                consumers.setdefault(source, set()).add(name)
    return consumers


def read_horizon(catalog: Catalog, identifier: str, consumers: Iterable[str]) -> int:
    """The highest sequence number every consumer of `identifier` has read (0: some read nothing)."""
    horizon: int | None = None
    for consumer in consumers:
        mark = (
            watermarks(catalog.load_table(consumer)).get(identifier, 0)
            if catalog.table_exists(consumer)
            else 0
        )
        horizon = mark if horizon is None else min(horizon, mark)
    return horizon or 0


def _plan(
    table: Table, target_file_bytes: int, min_files: int, max_sequence: int | None
) -> tuple[list[list[ManifestEntry]], list[str]]:
    """Bins of small files to rewrite together, per partition of the current spec, and notes."""
    head = table.current_snapshot()
    if head is None:
        return [], []
    spec_id = table.metadata.default_spec_id
    by_partition: dict[tuple[Any, ...], list[ManifestEntry]] = {}
    for manifest in head.manifests(table.io):
        if manifest.content == ManifestContent.DELETES:
            return [], ["has delete files: not compacted (pyiceberg cannot rewrite them)"]
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
            data_file = entry.data_file
            if (
                data_file.spec_id != spec_id
                or data_file.file_size_in_bytes >= target_file_bytes * SMALL_SHARE
            ):
                continue
            if max_sequence is not None and (entry.sequence_number or 0) > max_sequence:
                continue  # rows a consumer has not read yet: a rewrite would hide or repeat them
            by_partition.setdefault(tuple(data_file.partition), []).append(entry)
    bins: list[list[ManifestEntry]] = []
    for entries in by_partition.values():
        if len(entries) < min_files:
            continue
        current: list[ManifestEntry] = []
        size = 0
        for entry in sorted(entries, key=lambda e: (e.sequence_number or 0, e.data_file.file_path)):
            if current and size + entry.data_file.file_size_in_bytes > target_file_bytes:
                bins.append(current)
                current, size = [], 0
            current.append(entry)
            size += entry.data_file.file_size_in_bytes
        bins.append(current)
    return [b for b in bins if len(b) > 1], []


def _write(table: Table, metadata: Any, rows: pa.Table, beside: str) -> list[DataFile]:
    """Write one bin's rows as data files of the table (next to `beside`: same partition)."""
    if metadata.spec().is_unpartitioned():
        # What pyiceberg's append writes (its location provider and file names), from public parts.
        schema = pyarrow_to_schema(
            rows.schema, name_mapping=metadata.schema().name_mapping, format_version=metadata.format_version
        )
        write_uuid = uuid.uuid4()
        target = int(metadata.properties[TARGET_SIZE_PROPERTY])
        tasks = (
            WriteTask(write_uuid=write_uuid, task_id=task_id, record_batches=batches, schema=schema)
            for task_id, batches in enumerate(bin_pack_arrow_table(rows, target))
        )
        return list(write_file(table.io, metadata, tasks))
    # pyiceberg's partitioned writer needs pyiceberg-core for the transforms; every row of a bin is
    # in one partition already, so write the file there and let pyiceberg read its partition back.
    path = f"{beside.rsplit('/', 1)[0]}/compacted-{uuid.uuid4().hex}.parquet"
    with table.io.new_output(path).create(overwrite=False) as sink:
        pq.write_table(rows.cast(schema_to_pyarrow(table.schema())), sink, compression="zstd")
    return [parquet_file_to_data_file(table.io, metadata, path)]


def compact(
    table: Table,
    *,
    target_file_bytes: int,
    min_files: int,
    max_sequence: int | None = None,
    dry_run: bool = False,
    before_commit: Callable[[], None] | None = None,
) -> MaintenanceReport:
    """Rewrite each partition's small data files into files of about `target_file_bytes`, in one commit.

    The commit is an Iceberg `replace`: the rows are the same, so incremental readers skip it and
    dbt's working database stays in step. It is planned against main's head and fails cleanly if
    another writer commits meanwhile (the report says so; the next run retries); the files it
    wrote are removed then.

    Args:
        table: The table.
        target_file_bytes: Size to aim for; files below 75 % of it are small.
        min_files: A partition is compacted only when it holds at least this many small files.
        max_sequence: Rewrite only files with data sequence number up to this (what every
            incremental consumer has read); None for tables nobody reads incrementally.
        dry_run: Report what would be rewritten without writing.
        before_commit: Called right before the commit (fault-injection hook for tests).

    Returns:
        The report (data files before and after, files rewritten and added).
    """
    table.refresh()
    name = table_name(table)
    before = table_stats(table)
    report = MaintenanceReport(name, "compact", before, before, dry_run=dry_run)
    bins, notes = _plan(table, target_file_bytes, min_files, max_sequence)
    report.notes += notes
    report.files_removed = sum(len(b) for b in bins)
    report.bytes_removed = sum(e.data_file.file_size_in_bytes for b in bins for e in b)
    if not bins or dry_run:
        report.files_added = len(bins) if dry_run else 0  # each bin is at most one target-size file
        return report
    properties = {**table.metadata.properties, TARGET_SIZE_PROPERTY: str(target_file_bytes)}
    write_metadata = table.metadata.model_copy(update={"properties": properties})
    scan = ArrowScan(table.metadata, table.io, table.schema(), AlwaysTrue())
    written: list[DataFile] = []
    sequence_numbers: dict[str, int] = {}
    removed: list[DataFile] = []
    try:
        for entries in bins:
            rows = scan.to_table([FileScanTask(e.data_file) for e in entries])
            sequence = max(e.sequence_number or 0 for e in entries)
            for data_file in _write(table, write_metadata, rows, entries[0].data_file.file_path):
                written.append(data_file)
                sequence_numbers[data_file.file_path] = sequence
            removed += [e.data_file for e in entries]
            log.info("%s: %d small files → rewritten (%d rows)", name, len(entries), rows.num_rows)
        tx = without_commit_retries(table).transaction()
        stage_rewrite(
            tx,
            table.io,
            removed=removed,
            added=written,
            sequence_numbers=sequence_numbers,
            properties={COMPACTION_PROPERTY: json.dumps({"rewritten": len(removed), "added": len(written)})},
        )
        if before_commit:
            before_commit()
        tx.commit_transaction()
    except CommitFailedException as exc:
        for data_file in written:
            table.io.delete(data_file.file_path)
        report.files_removed = report.bytes_removed = 0
        report.notes.append(
            f"not compacted: another writer committed meanwhile ({exc}); the next run retries"
        )
        log.info("%s: compaction conflicted with a concurrent commit: %s", name, exc)
        return report
    table.refresh()
    report.files_added = len(written)
    report.after = table_stats(table)
    return report
