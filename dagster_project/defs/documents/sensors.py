"""The documents landing sensor: one run per new or changed document version (its sidecar included)."""

import json
import time

import dagster as dg
from blake3 import blake3

from dagster_project.defs.documents.assets import CHUNKS_KEY, DOCUMENTS_KEY, RAW_KEY
from dagster_project.defs.raw.sensors import _handled_versions, new_files, run_key, sensor_name
from dagster_project.defs.resources import Foundation
from dagster_project.documents.config import DocumentsConfig
from dagster_project.documents.ingest import document_version, landed_documents
from dagster_project.documents.tables import DOCUMENTS_TABLE
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings


def _deleted_documents(settings: Settings, config: DocumentsConfig, present: set[str]) -> list[str]:
    """Paths in curated.documents that are no longer in the landing zone."""
    catalog = open_catalog(settings)
    if not catalog.table_exists(DOCUMENTS_TABLE):
        return []
    table = catalog.load_table(DOCUMENTS_TABLE)
    if table.current_snapshot() is None:
        return []
    paths = table.scan(selected_fields=("path",)).to_arrow()["path"].to_pylist()
    return sorted(p for p in paths if p not in present)


def build_documents_sensor(config: DocumentsConfig, interval_seconds: int) -> dg.SensorDefinition:
    """Like the raw landing sensors, but a document and its `.metadata.json` sidecar are one unit."""
    dataset = config.dataset()

    @dg.sensor(
        name=sensor_name(dataset),
        description=f"Watches `{config.prefix}` (documents and sidecars); a run per document version.",
        asset_selection=[RAW_KEY, DOCUMENTS_KEY, CHUNKS_KEY],
        minimum_interval_seconds=interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def documents_landing_sensor(
        context: dg.SensorEvaluationContext, foundation: Foundation
    ) -> dg.SensorResult:
        settings = foundation.settings()
        documents, sidecars = landed_documents(settings, config)
        handled = _handled_versions(settings, dataset)
        files = [document_version(f, sidecars.get(f.key)) for f in documents]
        files = [f for f in files if (f.uri, f.version) not in handled]
        batch, cursor = new_files(
            files,
            context.cursor,
            now_ns=time.time_ns(),
            min_age_seconds=settings.sensor_min_file_age_seconds,
            limit=settings.sensor_max_files_per_tick,
            lookback_seconds=settings.sensor_lookback_seconds,
        )
        if not batch:
            gone = _deleted_documents(settings, config, {f.key for f in documents})
            if gone:
                # No new version will start a sync, so start one to remove the deleted documents' chunks.
                digest = blake3(json.dumps(gone).encode()).hexdigest()[:16]
                return dg.SensorResult(
                    run_requests=[
                        dg.RunRequest(
                            run_key=f"documents:deleted:{digest}",
                            asset_selection=[DOCUMENTS_KEY, CHUNKS_KEY],
                            tags={"foundation/dataset": dataset.name, "foundation/deleted": str(len(gone))},
                        )
                    ],
                    cursor=cursor,
                )
            return dg.SensorResult(
                skip_reason=f"no new documents under {config.prefix} ({len(files)} to handle)"
            )
        requests = [
            dg.RunRequest(
                run_key=run_key(dataset, f),
                asset_selection=[RAW_KEY],
                run_config={"ops": {"raw__documents": {"config": {"files": [f.key]}}}},
                tags={"foundation/dataset": dataset.name, "foundation/file": f.key[:200]},
            )
            for f in batch
        ]
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return documents_landing_sensor
