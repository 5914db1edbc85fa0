"""Release or discard a held document after review: the decision is recorded, then the sync runs once.

Apart from `holds.py` (the decisions log, which the sync reads) because a decision runs the sync:
holds.py sits below sync.py, this module above it.
"""

from __future__ import annotations

from dagster_project.documents.config import load_documents_config
from dagster_project.documents.embed import load_embedder
from dagster_project.documents.gate import chunk_suite
from dagster_project.documents.holds import DISCARDED, RELEASED, decide
from dagster_project.documents.sync import SyncReport, sync_documents
from dagster_project.lakehouse.held import RunAlive
from dagster_project.settings import Settings


def release_document(
    settings: Settings,
    document_id: str,
    *,
    via: str,
    run_id: str | None = None,
    alive: RunAlive | None = None,
) -> SyncReport:
    """Release a held document after review: its chunks publish (the sync re-embeds that one document).

    Args:
        settings: Where the catalog is.
        document_id: The held document, e.g. `guides/setup.md`.
        via: Who asked, for the audit row (`cli`, or `run <id>` of the Dagster job).
        run_id: The Dagster run of the review job (lineage of the chunks); a fresh id otherwise.
        alive: Whether another run is still running (see `sync_documents`).

    Returns:
        The report of the sync that published it.

    Raises:
        NotHeld: The document is not held back.
    """
    run_id = decide(settings, document_id, RELEASED, via=via, run_id=run_id)
    return resync(settings, run_id, alive)


def discard_document(
    settings: Settings,
    document_id: str,
    *,
    via: str,
    run_id: str | None = None,
    alive: RunAlive | None = None,
) -> SyncReport:
    """Discard a held document's version: it stays out of the index until the document changes.

    Raises:
        NotHeld: The document is not held back.
    """
    run_id = decide(settings, document_id, DISCARDED, via=via, run_id=run_id)
    return resync(settings, run_id, alive)


def resync(settings: Settings, run_id: str, alive: RunAlive | None = None):
    """Run the document sync once, as the curated documents asset does (for a review decision)."""
    config = load_documents_config(settings.documents_file)
    return sync_documents(
        settings,
        config,
        load_embedder(settings.embedder),
        run_id=run_id,
        suite=chunk_suite(settings.expectations_dir),
    )
