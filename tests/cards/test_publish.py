"""Cards are rewritten on each publish with its snapshot, and linked from the materialization."""

from __future__ import annotations

import json
import re
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.catch_up import build_models, catch_up
from dagster_project.lakehouse.tables import open_catalog
from tests.conftest import land, orders_csv
from tests.transform.conftest import model_table_names

pytestmark = pytest.mark.slow  # each test ingests and builds the models through curated


def _snapshot_on_card(path: Path) -> int:
    return int(re.search(r"\*\*Snapshot:\*\* (\d+)", path.read_text()).group(1))


def _latest_metadata(instance: dg.DagsterInstance, table: str) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey(table.split(".")))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_every_model_has_a_card_of_its_published_snapshot_linked_from_its_materialization(sample_built):
    settings = sample_built.settings
    catalog = open_catalog(settings)
    for table in model_table_names():
        markdown, html = settings.cards_dir / f"{table}.md", settings.cards_dir / f"{table}.html"
        assert markdown.exists() and html.exists(), table
        assert _snapshot_on_card(markdown) == catalog.load_table(table).current_snapshot().snapshot_id
        text = markdown.read_text()
        assert re.search(r"\d+ check\(s\) in the publish that produced this snapshot", text), table
        assert "One row per" in text and "## Column profile" in text and "## PII handling" in text
        metadata = _latest_metadata(sample_built.instance, table)
        # A link that opens in the browser (the docs server), and the card itself shown in the UI.
        assert metadata["data_card"] == f"http://127.0.0.1:{settings.docs_port}/cards/{table}.html"
        assert metadata["card"] == text
        assert metadata["data_card_markdown"] == str(markdown)


def test_cards_say_what_is_masked_and_where_it_comes_from(sample_built):
    cards = sample_built.settings.cards_dir
    customers = (cards / "staging.stg_customers.md").read_text()
    assert "| email_hash | email | raw.customers.email | email_hash: email → salted SHA-256" in customers
    assert "`email_hash` is a salted hash" in customers
    assert "Skewed: `segment` = consumer" in customers  # the sample's segments are skewed
    features = (cards / "curated.customer_features.md").read_text()
    path = "curated.customer_features ← staging.stg_orders ← raw.orders ← landing `orders/*.csv` (csv)"
    assert path in features


def test_a_new_publish_rewrites_the_card_with_the_new_snapshot(platform):
    settings, instance = platform
    card = settings.cards_dir / "staging.stg_orders.md"
    before = _snapshot_on_card(card)
    land(settings, "orders/o2.csv", orders_csv(21, 10))
    catch_up(settings, instance)
    success, _ = build_models(settings, instance)
    assert success
    after = open_catalog(settings).load_table("staging.stg_orders").current_snapshot().snapshot_id
    assert _snapshot_on_card(card) == after != before
    assert "**Rows:** 30" in card.read_text()


def test_a_card_that_cannot_be_written_does_not_fail_the_publish(platform, monkeypatch):
    settings, instance = platform
    land(settings, "orders/o2.csv", orders_csv(21, 10))
    catch_up(settings, instance)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("dagster_project.cards.publish.write_card", broken)
    success, models = build_models(settings, instance)
    assert success and all(m.gate.startswith("passed") for m in models), models
    metadata = _latest_metadata(instance, "staging.stg_orders")
    assert metadata["data_card"] == "not written: OSError: disk full"
    assert open_catalog(settings).load_table("staging.stg_orders").scan().to_arrow().num_rows == 30


def test_a_build_with_nothing_new_keeps_the_card_of_the_publish_and_links_it(platform):
    settings, instance = platform
    card = settings.cards_dir / "curated.orders.md"
    written = card.read_text()
    assert "check(s) in the publish that produced this snapshot" in written
    success, models = build_models(settings, instance)
    assert success and all(m.rows_written == 0 for m in models)
    assert card.read_text() == written  # the publish's results stay; this build published nothing
    assert _latest_metadata(instance, "curated.orders")["data_card_markdown"] == str(card)
    # What a card describes is kept as data beside it, never read back from its wording.
    facts = json.loads(card.with_suffix(".json").read_text())
    assert facts == {
        "snapshot_id": _snapshot_on_card(card),
        "rows": open_catalog(settings).load_table("curated.orders").scan().to_arrow().num_rows,
    }
    reworded = written.replace("**Snapshot:**", "**Snapshot id:**")
    card.write_text(reworded)
    assert build_models(settings, instance)[0] and card.read_text() == reworded
    # A card lost meanwhile is written again, without claiming the checks of a build that
    # did not produce the snapshot.
    card.unlink()
    success, _ = build_models(settings, instance)
    assert success and _snapshot_on_card(card) == _snapshot_on_card_of_table(settings, "curated.orders")
    assert "check(s) in the publish" not in card.read_text()


def _snapshot_on_card_of_table(settings, table: str) -> int:
    return open_catalog(settings).load_table(table).current_snapshot().snapshot_id
