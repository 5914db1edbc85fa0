"""The ops.quarantine records an ingest writes: a file quarantined whole (with its copy and sidecar),
its rows set apart, and a version skipped as the duplicate of another."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote

from dagster_project.ingest.convert import Converted, FileRejected
from dagster_project.ingest.units import Unit
from dagster_project.lakehouse.ops_tables.quarantine import DUPLICATE, QuarantineRecord
from dagster_project.lakehouse.type_fix import type_fix
from dagster_project.landing.names import label
from dagster_project.landing.store import LandedFile, quarantine_key
from dagster_project.landing.zone import open_quarantine
from dagster_project.registry import Dataset
from dagster_project.settings import Settings


def quarantine_file(
    settings: Settings,
    dataset: Dataset,
    file: LandedFile,
    path: Path,
    checksum: str,
    rejected: FileRejected,
    run_id: str,
) -> QuarantineRecord:
    """Copy a rejected file to the quarantine area with its JSON sidecar; the record for ops.quarantine."""
    now = datetime.now(UTC)
    key = quarantine_key(dataset.name, checksum, file.key)
    message = rejected.message
    if rejected.reason == "type_conflict":  # the registry fix that works, in the record and the sidecar
        message += "; " + type_fix(
            settings.sources_file, dataset, rejected.column, whole_file=True, row_data=rejected.row_data
        )
    sidecar = {
        "dataset": dataset.name,
        "source_file": file.uri,
        "landing_key": file.label,
        "source_checksum": checksum,
        "reason": rejected.reason,
        "message": message,
        "line": rejected.line,
        "column": rejected.column,
        "run_id": run_id,
        "quarantined_at": now.isoformat(),
    }
    copy_uri = open_quarantine(settings).put(key, path, json.dumps(sidecar, indent=2))
    return QuarantineRecord(
        quarantined_at=now,
        dataset=dataset.name,
        source_file=file.uri,
        source_checksum=checksum,
        quarantine_file=copy_uri,
        reason=rejected.reason,
        message=message,
        line=rejected.line,
        column_name=rejected.column,
        run_id=run_id,
        landing_version=file.version,
    )


def key_label(uri: str, root: str) -> str:
    """The landing key of a URI under the landing root `root` (`orders/a.csv`), else the URI (moved zone)."""
    if not uri.startswith(root):
        return uri
    key = uri[len(root) :]
    return label(unquote(key) if root.startswith("file:") else key)  # file URIs are percent-encoded


def duplicate_record(
    dataset: Dataset, unit: Unit, checksum: str, original: str, root: str, run_id: str
) -> QuarantineRecord:
    """The ops.quarantine record (scope 'duplicate') of a version whose bytes were taken under another key."""
    of = key_label(original, root)
    return QuarantineRecord(
        quarantined_at=datetime.now(UTC),
        dataset=dataset.name,
        source_file=unit.file.uri,
        source_checksum=checksum,
        quarantine_file="",
        reason=DUPLICATE,
        message=f"{unit.label}: duplicate of {of} (the same bytes); skipped. If this source re-delivers "
        f"files under new names on purpose, set `duplicates: allow` in the {dataset.name} registry entry",
        line=None,
        column_name=None,
        run_id=run_id,
        landing_version=unit.versioned.version,
        scope=DUPLICATE,
        duplicate_of=original,
    )


def row_records(
    dataset: Dataset, unit: Unit, checksum: str, converted: Converted, run_id: str, sources_file: Path
) -> list[QuarantineRecord]:
    """The ops.quarantine records (scope 'row') of a file's rows whose values do not fit their columns."""
    now = datetime.now(UTC)
    return [
        QuarantineRecord(
            quarantined_at=now,
            dataset=dataset.name,
            source_file=unit.file.uri,
            source_checksum=checksum,
            quarantine_file="",
            reason="type_conflict",
            message=f"{unit.label}: row {r.row}" + (f" (line {r.line})" if r.line else "") + f": {r.why()}; "
            "the row is kept here, the file's other rows go on to its table; "
            + type_fix(sources_file, dataset, r.column, whole_file=False, row_data=r.data),
            line=r.line,
            column_name=r.column,
            run_id=run_id,
            row_data=r.data,
            landing_version=unit.versioned.version,
            scope="row",
        )
        for r in converted.rejected
    ]
