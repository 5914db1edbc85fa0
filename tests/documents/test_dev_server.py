"""`make dev`: dropped documents become chunks with no clicks, and a deleted document's chunks go."""

from __future__ import annotations

import os

import pytest

from dagster_project.lakehouse.tables import open_catalog
from dagster_project.sample_data.kb_content import ARTICLES
from dagster_project.settings import Settings
from tests.servers.dagster_dev import ROOT, dagster_dev

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
    home = data / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster_project" / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "FOUNDATION_DATA_DIR": str(data),
        "DAGSTER_HOME": str(home),
        "FOUNDATION_SENSOR_INTERVAL_SECONDS": "1",
        "FOUNDATION_SENSOR_MIN_FILE_AGE_SECONDS": "0",
    }
    folder = data / "landing" / "documents"
    folder.mkdir(parents=True)
    settings = Settings.for_data_dir(data)
    with dagster_dev(env, tmp_path / "dev.log") as dev:
        for name in ("warranty", "care_guide"):
            (folder / f".{name}.md.tmp").write_text(ARTICLES[name])
            (folder / f".{name}.md.tmp").rename(folder / f"{name}.md")
        dev.wait_for(lambda: _chunked(settings) == {"warranty.md", "care_guide.md"}, 240, "ingest and sync")
        (folder / "care_guide.md").unlink()
        dev.wait_for(lambda: _chunked(settings) == {"warranty.md"}, 240, "the sync after the deletion")
