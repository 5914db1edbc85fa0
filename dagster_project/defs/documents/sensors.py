"""The documents landing sensor: one run per new or changed document version (its sidecar included)."""

import time

import dagster as dg

from dagster_project.defs.raw.sensors import _handled_versions, new_files, run_key, sensor_name
from dagster_project.defs.resources import Foundation
from dagster_project.documents.config import DocumentsConfig
from dagster_project.documents.ingest import document_version, landed_documents


def build_documents_sensor(config: DocumentsConfig, interval_seconds: int) -> dg.SensorDefinition:
    """Like the raw landing sensors, but a document and its `.metadata.json` sidecar are one unit."""
    dataset = config.dataset()

    @dg.sensor(
        name=sensor_name(dataset),
        description=f"Watches `{config.prefix}` (documents and sidecars); a run per document version.",
        asset_selection=[dg.AssetKey(["raw", "documents"])],
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
            return dg.SensorResult(
                skip_reason=f"no new documents under {config.prefix} ({len(files)} to handle)"
            )
        requests = [
            dg.RunRequest(
                run_key=run_key(dataset, f),
                run_config={"ops": {"raw__documents": {"config": {"files": [f.key]}}}},
                tags={"foundation/dataset": dataset.name, "foundation/file": f.key[:200]},
            )
            for f in batch
        ]
        return dg.SensorResult(run_requests=requests, cursor=cursor)

    return documents_landing_sensor
