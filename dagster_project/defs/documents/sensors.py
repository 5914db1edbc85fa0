"""The documents landing sensor: one run per tick carrying the new or changed document versions (sidecars
included)."""

import json

import dagster as dg
from blake3 import blake3

from dagster_project.defs.documents.assets import CHUNKS_KEY, DOCUMENTS_KEY, RAW_KEY
from dagster_project.defs.raw.sensors import batch_tags, files_to_run, run_key, sensor_name, skipped_note
from dagster_project.defs.resources import Foundation
from dagster_project.documents.config import TABLE, DocumentsConfig
from dagster_project.documents.ingest import document_version, landed_documents
from dagster_project.documents.tables import DOCUMENTS_TABLE
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.landing.store import Skipped
from dagster_project.settings import Settings


def _sync_due(settings: Settings, config: DocumentsConfig, present: set[str]) -> str | None:
    """A digest of the raw state when curated.documents does not reflect it (new, changed or deleted)."""
    catalog = open_catalog(settings)
    if not catalog.table_exists(TABLE) or catalog.load_table(TABLE).current_snapshot() is None:
        return None
    rows = catalog.load_table(TABLE).scan(selected_fields=("path", "checksum", "_ingested_at")).to_arrow()
    latest = {
        r["path"]: r["checksum"] for r in rows.sort_by("_ingested_at").to_pylist() if r["path"] in present
    }
    synced: dict[str, str] = {}
    if catalog.table_exists(DOCUMENTS_TABLE):
        curated = catalog.load_table(DOCUMENTS_TABLE)
        if curated.current_snapshot() is not None:
            for r in curated.scan(selected_fields=("path", "checksum")).to_arrow().to_pylist():
                synced[r["path"]] = r["checksum"]
    if latest == synced:
        return None
    return blake3(json.dumps(sorted(latest.items())).encode()).hexdigest()[:16]


def build_documents_sensor(config: DocumentsConfig, interval_seconds: int) -> dg.SensorDefinition:
    """Like the raw landing sensors, but a document and its `.metadata.json` sidecar are one unit."""
    dataset = config.dataset()

    @dg.sensor(
        name=sensor_name(dataset),
        description=f"Watches `{config.prefix}` (documents and sidecars); a run per tick carries the new "
        "document versions.",
        asset_selection=[RAW_KEY, DOCUMENTS_KEY, CHUNKS_KEY],
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def documents_landing_sensor(
        context: dg.SensorEvaluationContext, foundation: Foundation
    ) -> dg.SensorResult:
        settings = foundation.settings()
        skipped: list[Skipped] = []
        documents, sidecars = landed_documents(settings, config, skipped=skipped)
        note = skipped_note(skipped)
        if note:  # links, FIFOs, devices: never read, and no reason to fail the tick
            context.log.warning("documents: %s under %s; they are never read", note, config.prefix)
        versions = [document_version(f, sidecars.get(f.key)) for f in documents]
        files, batch, cursor = files_to_run(settings, dataset, versions, context.cursor)
        if not batch:
            due = _sync_due(settings, config, {f.key for f in documents})
            if due:
                # raw.documents holds versions (or misses deleted documents) that the curated tables
                # do not reflect yet: one sync per raw state, queued behind ingest runs by the tag.
                return dg.SensorResult(
                    run_requests=[
                        dg.RunRequest(
                            run_key=f"documents:sync:{due}",
                            asset_selection=[DOCUMENTS_KEY, CHUNKS_KEY],
                            tags={"foundation/dataset": dataset.name},
                        )
                    ],
                    cursor=cursor,
                )
            seen = f"{len(files)} to handle" + (f"; {note}" if note else "")
            return dg.SensorResult(skip_reason=f"no new documents under {config.prefix} ({seen})")
        request = dg.RunRequest(
            run_key=run_key(dataset, batch),
            asset_selection=[RAW_KEY],
            run_config={"ops": {"raw__documents": {"config": {"files": [f.key for f in batch]}}}},
            tags=batch_tags(dataset, batch),
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return documents_landing_sensor
