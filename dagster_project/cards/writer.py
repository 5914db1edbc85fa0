"""Writes data cards to `<cards_dir>/<namespace>.<table>.md` and `.html`; links them from Dagster metadata."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyiceberg.catalog import Catalog

from dagster_project.cards.content import Card, QualityResults
from dagster_project.cards.documents import TABLES as DOCUMENT_TABLES
from dagster_project.cards.documents import document_card
from dagster_project.cards.models import CardSourceError, model_card
from dagster_project.cards.profile import profile_table
from dagster_project.cards.render import to_html, to_markdown
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.registry import load_registry
from dagster_project.settings import DBT_PROJECT_DIR, Settings

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"


@dataclass(frozen=True)
class CardFiles:
    """The files of one written card and the snapshot it describes."""

    table: str
    markdown: Path
    html: Path
    snapshot_id: int | None
    rows: int


def card_files(settings: Settings, table: str) -> tuple[Path, Path, Path]:
    """The markdown, HTML and facts (JSON: snapshot id, rows) files of a table's card."""
    base = settings.cards_dir / table
    return Path(f"{base}.md"), Path(f"{base}.html"), Path(f"{base}.json")


def load_manifest(path: Path = MANIFEST) -> dict[str, Any]:
    """The dbt manifest the cards read grain, lineage and column meta from.

    Raises:
        CardSourceError: It does not exist yet.
    """
    if not path.exists():
        raise CardSourceError(f"dbt manifest {path} is missing: run `make setup` (it runs `dbt parse`)")
    return json.loads(path.read_text(encoding="utf-8"))


def model_uids(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Iceberg table name → dbt unique id of every model."""
    return {
        f"{n['config']['schema']}.{n['name']}": uid
        for uid, n in manifest["nodes"].items()
        if n["resource_type"] == "model"
    }


def card_tables(manifest: Mapping[str, Any]) -> list[str]:
    """Every table that gets a card: the dbt models and the document layer's curated tables."""
    return sorted(model_uids(manifest)) + list(DOCUMENT_TABLES)


def _write_atomically(path: Path, text: str) -> None:
    # A reader (the UI, a browser) never sees half a card.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_card(
    settings: Settings,
    table: str,
    *,
    quality: QualityResults | None = None,
    manifest: Mapping[str, Any] | None = None,
    snapshot_id: int | None = None,
    catalog: Catalog | None = None,
) -> Card:
    """The card of one table's snapshot (main's current one by default), without writing it.

    Raises:
        CardSourceError: The table is neither a dbt model nor a document table, or has no Iceberg table yet.
    """
    uid = None
    if table not in DOCUMENT_TABLES:
        manifest = manifest if manifest is not None else load_manifest()
        uid = model_uids(manifest).get(table)
        if uid is None:
            raise CardSourceError(f"no card for {table}: cards cover {', '.join(card_tables(manifest))}")
    catalog = catalog or open_catalog(settings)
    if not catalog.table_exists(table):
        raise CardSourceError(f"{table} has no Iceberg table yet: build it first (make demo, or its asset)")
    profile = profile_table(settings, catalog.load_table(table), snapshot_id)
    now = datetime.now(UTC)
    if uid is None:
        from dagster_project.documents.config import load_documents_config

        config = load_documents_config(settings.documents_file)
        return document_card(table, config, profile, quality, embedder=settings.embedder, generated_at=now)
    registry = load_registry(settings.sources_file)
    return model_card(
        manifest,
        uid,
        registry,
        profile,
        quality,
        expectations_dir=settings.expectations_dir,
        generated_at=now,
    )


def write_card(
    settings: Settings,
    table: str,
    *,
    quality: QualityResults | None = None,
    manifest: Mapping[str, Any] | None = None,
    snapshot_id: int | None = None,
    catalog: Catalog | None = None,
) -> CardFiles:
    """Profile a table's snapshot and write its card as markdown and HTML under `settings.cards_dir`.

    Args:
        settings: Where the catalog and the cards folder are.
        table: `staging.stg_orders`, `curated.document_chunks`, ...
        quality: The checks of the publish that produced the snapshot; None shows "not run".
        manifest: The dbt manifest (read from dbt_project/target when omitted).
        snapshot_id: The snapshot to describe; main's current one when omitted.
        catalog: An open catalog to reuse.

    Returns:
        The written files.

    Raises:
        CardSourceError: The table is unknown or not built yet, or the manifest is missing.
    """
    card = build_card(
        settings, table, quality=quality, manifest=manifest, snapshot_id=snapshot_id, catalog=catalog
    )
    settings.cards_dir.mkdir(parents=True, exist_ok=True)
    markdown, html, facts = card_files(settings, table)
    files = CardFiles(table, markdown, html, card.snapshot_id, card.rows)
    _write_atomically(markdown, to_markdown(card))
    _write_atomically(html, to_html(card))
    # What the card describes, kept as data beside it (last: its presence means both pages are written).
    _write_atomically(facts, json.dumps({"snapshot_id": card.snapshot_id, "rows": card.rows}))
    return files


def existing_card(settings: Settings, table: str) -> CardFiles | None:
    """The card already written for a table, with the snapshot it describes; None if there is none."""
    markdown, html, facts = card_files(settings, table)
    if not (markdown.exists() and html.exists() and facts.exists()):
        return None
    described = json.loads(facts.read_text(encoding="utf-8"))
    return CardFiles(table, markdown, html, described["snapshot_id"], described["rows"])


def write_cards(settings: Settings, tables: list[str] | None = None) -> list[CardFiles]:
    """Regenerate the cards of the given tables (every built one when omitted) from their current snapshots.

    Quality shows "not run": results belong to a publish, and this is not one.

    Raises:
        CardSourceError: A named table is unknown or not built yet.
    """
    manifest = load_manifest()
    catalog = open_catalog(settings)
    if tables is None:
        tables = [t for t in card_tables(manifest) if catalog.table_exists(t)]
    return [write_card(settings, t, manifest=manifest, catalog=catalog) for t in tables]
