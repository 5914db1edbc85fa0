"""Document catch-up (demo, ingest): one run ingests new document versions, one run syncs the curated layer.

An application command beside `catch_up.py`, not part of `documents/`: it runs the Dagster definitions.
"""

from __future__ import annotations

import sys
from typing import TextIO

import dagster as dg

from dagster_project.settings import Settings


def materialization_metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict[str, object]:
    """The metadata values of the run's materialization of `key` (empty if it did not materialize)."""
    for node in ("raw__documents", "curated_documents"):
        try:
            materializations = result.asset_materializations_for_node(node)
        except Exception:  # noqa: BLE001 - the node is not part of this run
            continue
        for materialization in materializations:
            if materialization.asset_key == key:
                return {k: v.value for k, v in materialization.metadata.items()}
    return {}


def run_documents(
    settings: Settings, instance: dg.DagsterInstance, out: TextIO = sys.stdout, *, raw_only: bool = False
) -> bool:
    """Ingest every landed document version not yet handled, then sync chunks, vectors and the index.

    A failed run is printed with its first error line and where its whole log is.

    Args:
        settings: The platform's settings.
        instance: The Dagster instance the runs are recorded in.
        out: Where the lines go.
        raw_only: Stop after raw.documents (no chunks, vectors or index).

    Returns:
        Whether the runs succeeded (a batch held back by a gate counts as handled, not failed).
    """
    from dagster_project.catch_up import failure
    from dagster_project.defs.deployment import build_defs
    from dagster_project.defs.documents.assets import CHUNKS_KEY, DOCUMENTS_KEY, RAW_KEY

    job = build_defs(settings).resolve_implicit_global_asset_job_def()
    quiet = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    raw = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        asset_selection=[RAW_KEY],
        run_config=quiet,
        tags={"foundation/dataset": "documents"},
    )
    md = materialization_metadata(raw, RAW_KEY)
    print(
        f"documents: +{md.get('files_ingested', 0)} document version(s), {md.get('files_quarantined', 0)} "
        f"quarantined, {md.get('files_skipped', 0)} already handled, gate {md.get('quality_gate', '-')}"
        + (
            ""
            if raw.success or md.get("quality_gate") == "HELD BACK"
            else f"\n  documents: RUN {failure(settings, raw)}"
        ),
        file=out,
    )
    if raw_only:
        return raw.success or md.get("quality_gate") == "HELD BACK"
    curated = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        asset_selection=[DOCUMENTS_KEY, CHUNKS_KEY],
        run_config=quiet,
        tags={"foundation/dataset": "documents"},
    )
    docs, chunks = (
        materialization_metadata(curated, DOCUMENTS_KEY),
        materialization_metadata(curated, CHUNKS_KEY),
    )
    if not chunks:
        print(
            f"curated documents: RUN {failure(settings, curated)}",
            file=out,
        )
        return False
    print(
        f"curated: {docs.get('documents', 0)} document(s), {docs.get('indexed', 0)} indexed; chunks of "
        f"{len(chunks.get('documents_embedded') or [])} new or changed document(s): "
        f"{chunks.get('chunks_embedded', 0)} embedded, {chunks.get('embedding_cache_hits', 0)} from the "
        f"embedding cache; {len(chunks.get('documents_removed') or [])} document(s) removed; "
        f"{chunks.get('dagster/row_count', 0)} chunks in all, gate {chunks.get('quality_gate', '-')}",
        file=out,
    )
    if chunks.get("quality_gate") == "HELD BACK":
        failed = ", ".join(chunks.get("failed_expectations") or []) or "see the run"
        branch = chunks.get("audit_branch") or "BRANCH"
        print(
            f"  the whole batch is held back on {branch} ({failed} failed on the batch as a whole);"
            f" review: foundation held | release|discard curated.document_chunks {branch}",
            file=out,
        )
    excluded = docs.get("excluded")
    if isinstance(excluded, str) and excluded.startswith("|"):
        for line in excluded.splitlines()[2:]:
            document, reason = (cell.strip() for cell in line.strip("|").split("|", 1))
            print(f"  not indexed: {document}: {reason}", file=out)
    held = docs.get("held_documents")
    if isinstance(held, str) and held.startswith("|"):
        for line in held.splitlines()[2:]:
            document, status, reason = (cell.strip() for cell in line.strip("|").split("|", 2))
            if status == "held":
                print(f"  {document}: {reason}", file=out)  # the reason starts "held back: "
        if docs.get("held"):
            print("  review: foundation held | release|discard curated.documents DOCUMENT", file=out)
    if docs.get("pii_redactions"):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(docs["pii_redactions"].items()))
        print(f"  PII redacted: {counts}", file=out)
    held = chunks.get("quality_gate") == "HELD BACK"
    return (raw.success or md.get("quality_gate") == "HELD BACK") and (curated.success or held)
