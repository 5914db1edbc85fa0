"""Ingests landed documents into Iceberg raw.documents: the engine's loop with the document converter.

A document version is its bytes plus its `<file>.metadata.json` sidecar's bytes: editing either
lands a new row. Listing, identity, skipping, quarantine, the quality gate and the exactly-once
publish are the same engine as every raw table's (ingest/engine.py); only the conversion differs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.documents.config import DocumentsConfig
from dagster_project.documents.extract import (
    SIDECAR_SUFFIX,
    DocumentRejected,
    Limits,
    extract,
    is_sidecar,
    read_sidecar,
)
from dagster_project.ingest.convert import Converted
from dagster_project.ingest.engine import IngestReport, ingest_units
from dagster_project.ingest.units import Unit
from dagster_project.landing.names import label
from dagster_project.landing.store import LandedFile, Skipped
from dagster_project.landing.zone import open_landing
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


def document_unit(file: LandedFile, sidecar: LandedFile | None) -> Unit:
    """A document and its sidecar as one unit of ingest."""
    return Unit(file, (sidecar,) if sidecar is not None else ())


def document_version(file: LandedFile, sidecar: LandedFile | None) -> LandedFile:
    """The document as one versioned unit: its landing version covers its sidecar's too.

    Sensors and the exactly-once records use this version, so editing only the sidecar is a new
    version of the document, and a sidecar is never handed out on its own.
    """
    return document_unit(file, sidecar).versioned


def _arrow_schema(config: DocumentsConfig) -> pa.Schema:
    return pa.schema(
        [(c.name, pa.int64() if c.type == "long" else pa.string()) for c in config.dataset().columns]
        + [
            ("_source_file", pa.string()),
            ("_source_checksum", pa.string()),
            ("_ingested_at", pa.timestamp("us", tz="UTC")),
            ("_run_id", pa.string()),
        ]
    )


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
    dataset = config.dataset()
    entries: list[Skipped] = []
    documents, sidecars = landed_documents(settings, config, entries)
    report = IngestReport(dataset.name, dataset.table, "", None)
    report.skipped += [{"file": label(e.key), "why": f"not read ({e.why})"} for e in entries]
    landed = {f.key for f in documents}
    for key, sidecar in sorted(sidecars.items()):  # never read alone, but never silently left either
        if key not in landed and (keys is None or sidecar.key in keys):
            why = f"a sidecar without its document {label(key)}; it is read when the document lands"
            report.skipped.append({"file": sidecar.label, "why": why})
    if keys is not None:
        wanted = {k.removesuffix(SIDECAR_SUFFIX) for k in keys}
        by_key = {f.key: f for f in documents}
        orphans = {k for k in wanted if k in sidecars and k not in by_key}  # reported above
        for key in sorted(wanted - set(by_key) - orphans):
            report.skipped.append({"file": key, "why": "no longer in the landing zone"})
        documents = [by_key[k] for k in sorted(wanted & set(by_key))]
    schema = _arrow_schema(config)
    limits = Limits(text_bytes=settings.max_document_text_bytes, pages=settings.max_document_pages)
    started_at = report.started_at  # the converter ships to Ray workers: it holds values, not the report

    def convert(
        unit: Unit,
        paths: list[Path],
        *,
        lineage: dict[str, str],
        out_path: Path,
        table_columns: dict[str, str],
    ) -> Converted:
        file = unit.file
        size = paths[0].stat().st_size
        if size > settings.max_document_bytes:
            raise DocumentRejected(
                "too_large",
                f"{file.label}: {size:,} bytes, more than the {settings.max_document_bytes:,} a document may "
                "have (FOUNDATION_MAX_DOCUMENT_BYTES); split it or raise the limit",
            )
        attributes = read_sidecar(paths[1], file.label) if len(paths) > 1 else {}
        extracted = extract(paths[0], file.label, limits)
        row = {
            "document_id": file.label.removeprefix(config.prefix),
            "path": file.label,
            "checksum": lineage["_source_checksum"],
            "media_type": extracted.media_type,
            "title": extracted.title,
            "text": extracted.text,
            "metadata": json.dumps(attributes, sort_keys=True),
            "warnings": json.dumps(extracted.warnings),
            "size_bytes": file.size,
            **{k: v for k, v in lineage.items() if k != "_ingested_at"},
            "_ingested_at": started_at,
        }
        pq.write_table(pa.Table.from_pylist([row], schema=schema), out_path)
        return Converted(path=out_path, rows=1)

    units = [document_unit(f, sidecars.get(f.key)) for f in documents]
    return ingest_units(
        settings,
        dataset,
        units,
        convert,
        run_id=run_id,
        retry_quarantined=retry_quarantined,
        suite=suite,
        log=log,
        report=report,
        # Every path of the knowledge base stays a row, so each copy can be cited where it landed; the
        # curated layer clusters exact and near duplicates and says which copy it indexed.
        skip_duplicates=False,
        remote=convert,  # holds no connection: cloudpickle ships the closure to Ray workers as it is
    )
