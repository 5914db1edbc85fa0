"""Held documents in Dagster: the `no_held_documents` check of curated/documents, and the jobs that
release or discard a held document from the UI (Launchpad config: document).

Like `no_held_batches` for tables (defs/held.py), the check is evaluated at every sync and by both
jobs, and is not blocking: the other documents published and may flow on; the check keeps the held
ones in sight until someone decides.
"""

import dagster as dg

from dagster_project.defs.asset_metadata import as_evaluation
from dagster_project.defs.resources import Foundation
from dagster_project.defs.runs import dagster_run_alive
from dagster_project.documents.holds import DOCUMENTS_TARGET, HeldDocument, held_documents
from dagster_project.documents.review import discard_document, release_document
from dagster_project.lakehouse.review import NotHeld

HELD_DOCUMENTS_CHECK = "no_held_documents"
RELEASE_DOCUMENT_JOB = "release_held_document"
DISCARD_DOCUMENT_JOB = "discard_held_document"
DOCUMENTS_KEY = dg.AssetKey(["curated", "documents"])
CHUNKS_KEY = dg.AssetKey(["curated", "document_chunks"])


def held_documents_check_spec() -> dg.AssetCheckSpec:
    """The check that fails while any document is held back by its chunks."""
    return dg.AssetCheckSpec(
        name=HELD_DOCUMENTS_CHECK,
        asset=DOCUMENTS_KEY,
        description="Fails while a document is held back because one of its chunks failed a blocking "
        "expectation of curated.document_chunks (the other documents publish), listing each with "
        f"the expectation and the chunk. Review one, then launch `{RELEASE_DOCUMENT_JOB}` or "
        f"`{DISCARD_DOCUMENT_JOB}` with config `document`.",
        blocking=False,
    )


def held_documents_result(held: list[HeldDocument]) -> dg.AssetCheckResult:
    """`no_held_documents` as it stands: passed, or failed with every held document listed."""
    metadata: dict[str, object] = {"held_documents": dg.MetadataValue.int(len(held))}
    if held:
        rows = [
            f"| {h.document_id} | {', '.join(h.failed)} | {h.chunk_id} | {h.held_at or '-'} |" for h in held
        ]
        metadata["held"] = dg.MetadataValue.md(
            "| document | failed | chunk | held since |\n|---|---|---|---|\n" + "\n".join(rows)
        )
        metadata["what_to_do"] = dg.MetadataValue.text(
            f"Launch {RELEASE_DOCUMENT_JOB} or {DISCARD_DOCUMENT_JOB} with config document: <document> "
            f"(or `foundation release|discard {DOCUMENTS_TARGET} <document>`)"
        )
    return dg.AssetCheckResult(
        asset_key=DOCUMENTS_KEY,
        check_name=HELD_DOCUMENTS_CHECK,
        passed=not held,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=None
        if not held
        else f"{len(held)} document(s) held back: " + ", ".join(h.document_id for h in held),
    )


class HeldDocumentConfig(dg.Config):
    """Which held document: see the `no_held_documents` check of curated/documents, or `foundation held`."""

    document: str  # e.g. guides/setup.md (its document id)


def _report(context: dg.OpExecutionContext, settings, report, description: str) -> None:  # noqa: ANN001
    context.log_event(as_evaluation(held_documents_result(held_documents(settings))))
    # The review's sync rewrote curated.documents (the status) and, for a release, moved main.
    moved = bool(report.chunks_added or report.removed_documents)
    for key in (DOCUMENTS_KEY, CHUNKS_KEY) if moved else (DOCUMENTS_KEY,):
        context.log_event(
            dg.AssetMaterialization(
                asset_key=key,
                description=description,
                metadata={
                    "chunks_added": report.chunks_added,
                    "dagster/row_count": report.chunks_total,
                    "snapshot_id": str(report.snapshot_id),
                }
                if key == CHUNKS_KEY
                else {"published": dg.MetadataValue.json(report.published)},
            )
        )


def build_document_jobs() -> list[dg.JobDefinition]:
    """The release and discard jobs of held documents."""

    def decide(context: dg.OpExecutionContext, config: HeldDocumentConfig, foundation: Foundation, action):
        # Release and discard differ only in the decision; both fail the run when nothing is held.
        settings = foundation.settings()
        try:
            report = action(
                settings,
                config.document,
                via=f"run {context.run_id}",
                run_id=context.run_id,
                alive=dagster_run_alive(context.instance),
            )
        except NotHeld as exc:
            raise dg.Failure(description=str(exc)) from exc
        return settings, report

    @dg.op(name="release_document", description="Publish a held document's chunks after review (audited).")
    def release_op(context: dg.OpExecutionContext, config: HeldDocumentConfig, foundation: Foundation):
        settings, report = decide(context, config, foundation, release_document)
        context.log.info(f"{config.document}: released; {report.chunks_added} chunk(s) published")
        _report(context, settings, report, f"released {config.document} after review")

    @dg.op(name="discard_document", description="Keep a held document out of the index (audited).")
    def discard_op(context: dg.OpExecutionContext, config: HeldDocumentConfig, foundation: Foundation):
        settings, report = decide(context, config, foundation, discard_document)
        context.log.info(f"{config.document}: discarded; it stays out of the index until it changes")
        _report(context, settings, report, f"discarded {config.document} after review")

    @dg.job(name=RELEASE_DOCUMENT_JOB, description="Release a held document: config document (its id).")
    def release_job():
        release_op()

    @dg.job(name=DISCARD_DOCUMENT_JOB, description="Discard a held document: config document (its id).")
    def discard_job():
        discard_op()

    return [release_job, discard_job]
