"""Document layer: landed documents → raw.documents → curated.documents and curated.document_chunks."""

from __future__ import annotations

import dagster as dg

from dagster_project.defs.documents.assets import build_document_assets
from dagster_project.defs.documents.held import build_document_jobs
from dagster_project.defs.documents.sensors import build_documents_sensor
from dagster_project.documents.config import load_documents_config
from dagster_project.settings import Settings


def defs(settings: Settings) -> dg.Definitions:
    config = load_documents_config(settings.documents_file)
    return dg.Definitions(
        assets=build_document_assets(config, settings.expectations_dir),
        sensors=[build_documents_sensor(config, settings.sensor_interval_seconds)],
        jobs=build_document_jobs(),
    )
