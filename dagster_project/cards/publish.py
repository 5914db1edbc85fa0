"""Cards written by the assets right after a publish, linked from their materialization metadata."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from pyiceberg.catalog import Catalog

from dagster_project.cards.content import QualityResults
from dagster_project.cards.writer import CardFiles, write_card
from dagster_project.docs_site.links import docs_link
from dagster_project.settings import Settings

# Statuses of a dbt model after publish_build whose main snapshot the card can describe.
DESCRIBABLE = ("published", "unchanged")


def card_metadata(settings: Settings, files: CardFiles) -> dict[str, Any]:
    """Metadata showing the card: `data_card` (its page on the docs server), `card` (the card itself,
    as markdown the UI renders) and `data_card_markdown` (the markdown file's path)."""
    return {
        "data_card": dg.MetadataValue.url(docs_link(settings, files.html)),
        "card": dg.MetadataValue.md(files.markdown.read_text(encoding="utf-8")),
        "data_card_markdown": dg.MetadataValue.path(str(files.markdown)),
    }


def existing_card(settings: Settings, table: str) -> CardFiles | None:
    """The card already written for a table, with the snapshot it describes; None if there is none."""
    base = settings.cards_dir / table
    markdown, html = Path(f"{base}.md"), Path(f"{base}.html")
    if not (markdown.exists() and html.exists()):
        return None
    found = re.search(r"^- \*\*Snapshot:\*\* (\d+)$", markdown.read_text(encoding="utf-8"), re.MULTILINE)
    rows = re.search(r"^- \*\*Rows:\*\* ([\d,]+)$", markdown.read_text(encoding="utf-8"), re.MULTILINE)
    if found is None:
        return None
    return CardFiles(
        table, markdown, html, int(found.group(1)), int(rows.group(1).replace(",", "")) if rows else 0
    )


def publish_card(settings: Settings, table: str, log: Any, **kwargs: Any) -> dict[str, Any]:
    """Write a table's card after a publish and return the metadata linking it; never raises.

    A card is documentation: if it cannot be written, the publish still stands. The failure is
    logged as a warning and shown in the metadata instead of the link.

    Args:
        settings: Where the catalog and the cards are.
        table: The published table.
        log: The run's logger.
        **kwargs: Passed to `write_card` (quality, manifest, snapshot_id, catalog).

    Returns:
        `data_card`, `card` and `data_card_markdown`, or `data_card` saying why there is none.
    """
    try:
        return card_metadata(settings, write_card(settings, table, **kwargs))
    except Exception as exc:  # noqa: BLE001 - any failure must leave the publish alone
        log.warning(f"{table}: data card not written: {exc}")
        return {"data_card": f"not written: {type(exc).__name__}: {exc}"[:500]}


def model_cards(
    settings: Settings,
    manifest: Mapping[str, Any],
    outcomes: Mapping[dg.AssetKey, Any],
    checks: Iterable[dg.AssetCheckResult],
    log: Any,
    catalog: Catalog | None = None,
) -> dict[dg.AssetKey, dict[str, Any]]:
    """Cards of the dbt models a build published or found unchanged, with that build's checks.

    Args:
        settings: Where the catalog and the cards are.
        manifest: The dbt manifest.
        outcomes: Asset key → `ModelOutcome` of the build.
        checks: The build's check results: dbt tests and GX suites.
        log: The run's logger.
        catalog: An open catalog to reuse.

    Returns:
        Asset key → metadata linking its card.
    """
    checks = list(checks)
    metadata = {}
    for key, outcome in outcomes.items():
        if outcome.status not in DESCRIBABLE or outcome.snapshot_id is None:
            continue
        table = ".".join(key.path)
        quality: QualityResults | None = QualityResults.from_checks(
            [c for c in checks if c.asset_key == key], source="dbt tests and Great Expectations"
        )
        if outcome.status == "unchanged":
            # Nothing was published: the card written by the publish of this snapshot stays, with
            # that publish's results; this build's checks did not produce the snapshot.
            existing = existing_card(settings, table)
            if existing is not None and existing.snapshot_id == outcome.snapshot_id:
                metadata[key] = card_metadata(settings, existing)
                continue
            quality = None
        metadata[key] = publish_card(
            settings,
            table,
            log,
            quality=quality,
            manifest=manifest,
            snapshot_id=outcome.snapshot_id,
            catalog=catalog,
        )
    return metadata
