"""`foundation cards` regenerates cards from the current tables; the document tables get theirs on publish."""

from __future__ import annotations

import dagster as dg
import pytest

from dagster_project.cli import main
from dagster_project.defs.documents.assets import CHUNKS_KEY, DOCUMENTS_KEY, build_document_assets
from dagster_project.defs.resources import Foundation
from dagster_project.demo.sample_data.documents import write_documents
from dagster_project.documents.config import load_documents_config
from dagster_project.documents_catch_up import materialization_metadata
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.transform.conftest import model_table_names


@pytest.mark.slow  # ingests and builds the models through curated
def test_the_cards_command_writes_every_built_tables_card(platform, monkeypatch, capsys):
    settings, _ = platform
    for card in settings.cards_dir.iterdir():
        card.unlink()
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    assert main(["cards"]) == 0
    written = sorted(p.name for p in settings.cards_dir.iterdir())
    built = [t for t in model_table_names() if open_catalog(settings).table_exists(t)]
    assert len(built) == 5  # the support tickets models have had no rows: no table yet, no card
    assert written == sorted(f"{t}.{ext}" for t in built for ext in ("html", "json", "md"))
    assert (
        "Not run: this card was regenerated outside a publish"
        in (settings.cards_dir / "curated.orders.md").read_text()
    )
    assert "curated.orders: 20 rows, snapshot" in capsys.readouterr().out

    assert main(["cards", "--table", "raw.orders"]) == 2
    assert "no card for raw.orders: cards cover curated.customer_features" in capsys.readouterr().err


def test_document_tables_get_cards_on_publish(tmp_path):
    settings = Settings.for_data_dir(tmp_path / "data", embedder="tests.documents.fakes:bag_of_words")
    write_documents(tmp_path / "data" / "landing")
    config = load_documents_config(settings.documents_file)
    result = dg.materialize(
        build_document_assets(config, settings.expectations_dir),
        resources={"foundation": Foundation.from_settings(settings)},
    )
    for key in (DOCUMENTS_KEY, CHUNKS_KEY):
        table = ".".join(key.path)
        metadata = materialization_metadata(result, key)
        assert metadata["data_card"] == f"{settings.docs_base_url}/cards/{table}.html"
        assert metadata["card"] == (settings.cards_dir / f"{table}.md").read_text()
        assert metadata["data_card_markdown"] == str(settings.cards_dir / f"{table}.md")
    documents = (settings.cards_dir / "curated.documents.md").read_text()
    assert "near duplicates by MinHash LSH" in documents and "No checks are declared" in documents
    chunks = (settings.cards_dir / "curated.document_chunks.md").read_text()
    assert "Embedding: `tests.documents.fakes:bag_of_words`" in chunks
    assert "check(s) in the publish that produced this snapshot (Great Expectations)" in chunks
    assert f"**Snapshot:** {metadata['snapshot_id']}" in chunks
