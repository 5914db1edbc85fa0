"""Ingests landed documents into Iceberg raw.documents: extract, quarantine the unreadable, publish once.

A document version is its bytes plus its `<file>.metadata.json` sidecar's bytes: editing either
lands a new row. The batch goes through the same quality gate, exactly-once publish and
quarantine as every raw table (ingest/run.py).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import replace

import pyarrow as pa
import pyarrow.parquet as pq
from blake3 import blake3

from dagster_project.documents.config import DocumentsConfig
from dagster_project.documents.extract import (
    SIDECAR_SUFFIX,
    DocumentRejected,
    extract,
    is_sidecar,
    read_sidecar,
)
from dagster_project.ingest.convert import FileRejected, connect
from dagster_project.ingest.run import IngestReport, _already_handled, _publish, _quarantine
from dagster_project.lakehouse.ops import quarantined_versions, record_quarantine
from dagster_project.lakehouse.publish import StagedFile, ingested_versions
from dagster_project.lakehouse.tables import ensure_raw_table, open_catalog
from dagster_project.landing.store import LandedFile, Skipped, open_landing
from dagster_project.quality.suites import Suite
from dagster_project.settings import Settings


def landed_documents(
    settings: Settings, config: DocumentsConfig, skipped: list[Skipped] | None = None
) -> tuple[list[LandedFile], dict[str, LandedFile]]:
    """Documents under the prefix (oldest first) and sidecars by the key of the document they describe.

    Entries that are not regular files (links, FIFOs, devices) are appended to `skipped`.
    """
    dataset = config.dataset()
    documents, sidecars = [], {}
    for file in open_landing(settings).list(config.prefix, skipped=skipped):
        if not dataset.matches(file.key):
            continue
        if is_sidecar(file.key):
            sidecars[file.key.removesuffix(SIDECAR_SUFFIX)] = file
        else:
            documents.append(file)
    return sorted(documents), sidecars


def document_version(file: LandedFile, sidecar: LandedFile | None) -> LandedFile:
    """The document as one versioned unit: its landing version covers its sidecar's too.

    Sensors and the exactly-once records use this version, so editing only the sidecar is a new
    version of the document, and a sidecar is never handed out on its own.
    """
    if sidecar is None:
        return file
    return replace(
        file,
        etag=f"{file.version}+{sidecar.version}",
        mtime_ns=max(file.mtime_ns, sidecar.mtime_ns),
        ctime_ns=max(file.ctime_ns, sidecar.ctime_ns),  # an in-place edit of either is a change
    )


def _row(
    file: LandedFile, config: DocumentsConfig, path, checksum: str, attributes: dict[str, str]
) -> dict[str, object]:
    extracted = extract(path, file.key)
    return {
        "document_id": file.key.removeprefix(config.prefix),
        "path": file.key,
        "checksum": checksum,
        "media_type": extracted.media_type,
        "title": extracted.title,
        "text": extracted.text,
        "metadata": json.dumps(attributes, sort_keys=True),
        "warnings": json.dumps(extracted.warnings),
        "size_bytes": file.size,
    }


def ingest_documents(
    settings: Settings,
    config: DocumentsConfig,
    *,
    run_id: str,
    keys: Sequence[str] | None = None,
    retry_quarantined: bool = False,
    suite: Suite | None = None,
    log: logging.Logger | None = None,
) -> IngestReport:
    """Ingest landed documents (all, or the given keys; a sidecar key means its document) into raw.documents.

    Returns:
        The report: documents ingested, skipped and quarantined, the snapshot, the gate's outcome.
    """
    log = log or logging.getLogger(__name__)
    dataset = config.dataset()
    catalog = open_catalog(settings)
    table = ensure_raw_table(catalog, dataset)
    landing = open_landing(settings)
    report = IngestReport(dataset.name, dataset.table, table.location(), None)
    documents, sidecars = landed_documents(settings, config)
    if keys is not None:
        wanted = {k.removesuffix(SIDECAR_SUFFIX) for k in keys}
        by_key = {f.key: f for f in documents}
        for key in sorted(wanted - set(by_key)):
            report.skipped.append({"file": key, "why": "no longer in the landing zone"})
        documents = [by_key[k] for k in sorted(wanted & set(by_key))]
    done = ingested_versions(table)
    quarantined = set() if retry_quarantined else quarantined_versions(catalog, dataset.name)
    scratch = settings.work_dir / run_id
    scratch.mkdir(parents=True, exist_ok=True)
    arrow_schema = pa.schema(
        [(c.name, pa.int64() if c.type == "long" else pa.string()) for c in dataset.columns]
        + [
            ("_source_file", pa.string()),
            ("_source_checksum", pa.string()),
            ("_ingested_at", pa.timestamp("us", tz="UTC")),
            ("_run_id", pa.string()),
        ]
    )
    staged: list[StagedFile] = []
    keys_by_identity: dict[tuple[str, str], LandedFile] = {}
    for index, file in enumerate(documents, start=1):
        sidecar = sidecars.get(file.key)
        try:
            with landing.fetch(file, scratch) as (path, checksum):
                attributes: dict[str, str] = {}
                sidecar_error: DocumentRejected | None = None
                if sidecar is not None:
                    with landing.fetch(sidecar, scratch) as (sidecar_path, sidecar_checksum):
                        checksum = blake3(f"{checksum}:{sidecar_checksum}".encode()).hexdigest()
                        try:
                            attributes = read_sidecar(sidecar_path, file.key)
                        except DocumentRejected as rejected:
                            sidecar_error = rejected
                identity = (file.uri, checksum)
                why = _already_handled(identity, done, quarantined, keys_by_identity)
                if why:
                    report.skipped.append({"file": file.key, "why": why})
                    continue
                try:
                    if sidecar_error is not None:
                        raise sidecar_error
                    row = _row(file, config, path, checksum, attributes)
                except DocumentRejected as rejected:
                    log.warning("quarantined %s: %s", file.key, rejected.message)
                    failure = FileRejected(rejected.reason, rejected.message)
                    versioned = document_version(file, sidecar)
                    report.quarantined.append(
                        _quarantine(settings, dataset, versioned, path, checksum, failure, run_id)
                    )
                    continue
        except FileNotFoundError:
            report.skipped.append({"file": file.key, "why": "no longer in the landing zone"})
            continue
        row.update(
            _source_file=file.uri, _source_checksum=checksum, _ingested_at=report.started_at, _run_id=run_id
        )
        target = scratch / f"{index:05d}.parquet"
        pq.write_table(pa.Table.from_pylist([row], schema=arrow_schema), target)
        version = document_version(file, sidecar).version
        staged.append(StagedFile(file.uri, checksum, target, 1, file.size, {}, version=version))
        keys_by_identity[identity] = file
    con = connect(settings.duckdb_memory_limit, settings.duckdb_threads, settings.work_dir / "duckdb")
    try:
        if staged:
            _publish(
                catalog,
                table,
                con,
                staged,
                dataset,
                report,
                keys_by_identity,
                settings=settings,
                suite=suite,
                run_id=run_id,
                ingested_at=report.started_at,
                before_commit=None,
                log=log,
            )
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
    record_quarantine(catalog, report.quarantined + (report.gate.dropped if report.gate else []))
    return report
