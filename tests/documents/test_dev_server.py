"""`make dev`: dropped documents become chunks with no clicks, and a deleted document's chunks go."""

from __future__ import annotations

import pytest

from dagster_project.demo.sample_data.kb_content import ARTICLES
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.servers.dagster_dev import dagster_dev, drop_file, embedded_env

pytestmark = pytest.mark.slow


def _chunked(settings: Settings) -> set[str]:
    catalog = open_catalog(settings)
    if not catalog.table_exists("curated.document_chunks"):
        return set()
    table = catalog.load_table("curated.document_chunks")
    if table.current_snapshot() is None:
        return set()
    return set(table.scan(selected_fields=("document_id",)).to_arrow()["document_id"].to_pylist())


def test_sensor_ingests_then_syncs_and_a_deletion_removes_chunks(tmp_path):
    data = tmp_path / "data"
    env = embedded_env(
        data, FOUNDATION_SENSOR_INTERVAL_SECONDS="1", FOUNDATION_SENSOR_MIN_FILE_AGE_SECONDS="0"
    )
    folder = data / "landing" / "documents"
    folder.mkdir(parents=True)
    settings = Settings.for_data_dir(data)
    with dagster_dev(env, tmp_path / "dev.log") as dev:
        for name in ("warranty", "care_guide"):
            drop_file(folder, f"{name}.md", ARTICLES[name])
        dev.wait_for(lambda: _chunked(settings) == {"warranty.md", "care_guide.md"}, 240, "ingest and sync")
        (folder / "care_guide.md").unlink()
        dev.wait_for(lambda: _chunked(settings) == {"warranty.md"}, 240, "the sync after the deletion")
