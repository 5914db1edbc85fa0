"""Document assets: `raw/documents` (landed files) and `curated/documents` + `curated/document_chunks`."""

from pathlib import Path

import dagster as dg

from dagster_project.cards.content import QualityResults
from dagster_project.cards.publish import publish_card
from dagster_project.defs.asset_metadata import check_summary, column_schema, table_state
from dagster_project.defs.documents.held import held_documents_check_spec, held_documents_result
from dagster_project.defs.raw.assets import RawIngestConfig, ingest_and_report, table_columns
from dagster_project.defs.raw.checks import check_results, check_specs
from dagster_project.defs.resources import Foundation
from dagster_project.documents.config import DocumentsConfig
from dagster_project.documents.gate import chunk_suite
from dagster_project.documents.tables import CHUNKS_SCHEMA, CHUNKS_TABLE, DOCUMENTS_SCHEMA, DOCUMENTS_TABLE
from dagster_project.lakehouse.tables import open_catalog, raw_schema
from dagster_project.quality.suites import Suite, load_suite

RAW_KEY = dg.AssetKey(["raw", "documents"])
DOCUMENTS_KEY = dg.AssetKey(["curated", "documents"])
CHUNKS_KEY = dg.AssetKey(["curated", "document_chunks"])
# Curated document text had its PII replaced by typed placeholders before it was stored.
REDACTED = {"text": "free_text"}
REDACTION = {"text": "emails, card numbers, national ids and phones replaced by [EMAIL], [CARD_NUMBER], ..."}


def build_raw_documents(documents: DocumentsConfig, suite: Suite | None) -> dg.AssetsDefinition:
    """raw/documents: landed documents extracted into Iceberg raw.documents, one row per version."""
    dataset = documents.dataset()

    # Subsettable (a multi-asset of one) so that a run with no new document yields no check result.
    @dg.multi_asset(
        name="__".join(RAW_KEY.path),
        specs=[
            dg.AssetSpec(
                key=RAW_KEY,
                group_name="raw",
                description=f"{documents.description}\n\nMarkdown, HTML, text and PDF files under "
                f"`{documents.prefix}` (with optional `<file>.metadata.json` sidecars), one row per "
                "document version with its extracted text. Iceberg table `raw.documents`.",
                kinds={"iceberg", "pdf", "html", "markdown"},
                owners=[documents.owner],
                tags={"layer": "raw", "dataset": dataset.name},
                metadata={
                    "dagster/table_name": dataset.table,
                    "landing_prefix": documents.prefix,
                    "dagster/column_schema": column_schema(raw_schema(dataset)),
                },
            )
        ],
        op_tags={"foundation/dataset": dataset.name},
        check_specs=check_specs(RAW_KEY, suite),
        can_subset=True,
    )
    def raw_documents(context: dg.AssetExecutionContext, config: RawIngestConfig, foundation: Foundation):
        from dagster_project.documents.ingest import ingest_documents

        settings = foundation.settings()
        yield from ingest_and_report(
            context,
            settings,
            dataset,
            suite,
            lambda: ingest_documents(
                settings,
                documents,
                run_id=context.run.run_id,
                keys=config.files or None,
                retry_quarantined=config.retry_quarantined,
                suite=suite,
                log=context.log,
            ),
        )

    return raw_documents


def build_curated_documents(config: DocumentsConfig, suite: Suite | None) -> dg.AssetsDefinition:
    """curated/documents and curated/document_chunks: curated, deduplicated, chunked and embedded."""

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(
                DOCUMENTS_KEY,
                deps=[RAW_KEY],
                group_name="curated",
                description="One row per current document: normalised, PII-redacted text, duplicate "
                "cluster, quality issues, and whether it is indexed or why not. Iceberg `curated.documents`.",
                kinds={"iceberg", "python"},
                owners=[config.owner],
                metadata={
                    "dagster/table_name": DOCUMENTS_TABLE,
                    "dagster/column_schema": column_schema(DOCUMENTS_SCHEMA, REDACTED, REDACTION),
                },
            ),
            dg.AssetSpec(
                CHUNKS_KEY,
                deps=[DOCUMENTS_KEY],
                group_name="curated",
                description="One row per chunk of an indexed document: heading path, text, token count "
                "and embedding (list<float>, dimension in table property foundation.embedding.dimension), "
                "synced incrementally and mirrored in the LanceDB vector index. Iceberg "
                "`curated.document_chunks`.",
                kinds={"iceberg", "python", "lancedb"},
                owners=[config.owner],
                metadata={
                    "dagster/table_name": CHUNKS_TABLE,
                    "dagster/column_schema": column_schema(CHUNKS_SCHEMA, REDACTED, REDACTION),
                },
            ),
        ],
        check_specs=[*check_specs(CHUNKS_KEY, suite), held_documents_check_spec()],
        # Subsettable so that its check outputs are optional: a sync with no new chunks yields none.
        can_subset=True,
    )
    def curated_documents(context: dg.AssetExecutionContext, foundation: Foundation):
        from dagster_project.defs.runs import dagster_run_alive
        from dagster_project.documents.embed import load_embedder
        from dagster_project.documents.holds import held_documents
        from dagster_project.documents.sync import sync_documents

        settings = foundation.settings()
        report = sync_documents(
            settings,
            config,
            load_embedder(settings.embedder),
            run_id=context.run.run_id,
            suite=suite,
            log=context.log,
            alive=dagster_run_alive(context.instance),
        )
        gate = report.gate
        chunk_checks = check_results(suite, gate, None, CHUNKS_KEY)
        cards: dict[str, dict[str, object]] = {DOCUMENTS_TABLE: {}, CHUNKS_TABLE: {}}
        if gate is None or not gate.held_back:  # held back: main is unchanged, and so are its cards
            chunk_quality = QualityResults.from_checks(chunk_checks, source="Great Expectations")
            no_checks = QualityResults(0)
            cards[DOCUMENTS_TABLE] = publish_card(settings, DOCUMENTS_TABLE, context.log, quality=no_checks)
            cards[CHUNKS_TABLE] = publish_card(
                settings, CHUNKS_TABLE, context.log, quality=chunk_quality, snapshot_id=report.snapshot_id
            )
        catalog = open_catalog(settings)
        yield dg.MaterializeResult(
            asset_key=DOCUMENTS_KEY,
            metadata={
                **table_state(catalog, DOCUMENTS_TABLE, REDACTED, REDACTION),
                **cards[DOCUMENTS_TABLE],
                # Excluded documents stay in the table with their reason; none is quarantined here.
                "quarantined_rows": dg.MetadataValue.int(0),
                "documents": report.documents,
                "indexed": report.indexed,
                "excluded": dg.MetadataValue.md(
                    "| document | reason |\n|---|---|\n"
                    + "\n".join(f"| {e['document']} | {e['reason']} |" for e in report.excluded)
                )
                if report.excluded
                else "none",
                "pii_redactions": dg.MetadataValue.json(report.pii_redactions),
                # Which path chunked and embedded: "in-process", or the Ray cluster (README "Scaling out").
                "execution": report.execution,
                # Per-document gate: documents with chunks on main, and those held back (or discarded).
                "published": dg.MetadataValue.json(report.published),
                "held": dg.MetadataValue.int(sum(h["status"] == "held" for h in report.held)),
                "held_documents": dg.MetadataValue.md(
                    "| document | status | reason |\n|---|---|---|\n"
                    + "\n".join(f"| {h['document']} | {h['status']} | {h['reason']} |" for h in report.held)
                )
                if report.held
                else "none",
            },
            check_results=[held_documents_result(held_documents(settings))],
        )
        metadata: dict[str, object] = {
            **table_state(catalog, CHUNKS_TABLE, REDACTED, REDACTION),
            **check_summary(c.passed for c in chunk_checks),
            **cards[CHUNKS_TABLE],
            # Chunks of this sync kept off main by the gate (they wait on the audit branch).
            "quarantined_rows": dg.MetadataValue.int(
                report.chunks_added if gate is not None and gate.held_back else 0
            ),
            "dagster/row_count": report.chunks_total,
            "chunks_added": report.chunks_added,
            "chunks_embedded": report.chunks_embedded,
            "execution": report.execution,
            "embedding_cache_hits": report.embedding_cache_hits,
            "documents_embedded": dg.MetadataValue.json(report.embedded_documents),
            "documents_removed": dg.MetadataValue.json(report.removed_documents),
            "index_rows": report.index_rows,
            "seconds": dg.MetadataValue.json({k: round(v, 3) for k, v in report.seconds.items()}),
            "snapshot_id": str(report.snapshot_id),
        }
        if gate is not None:
            metadata["quality_gate"] = "HELD BACK" if gate.held_back else "passed"
            if gate.held_back:
                metadata["audit_branch"] = gate.branch or ""
                metadata["failed_expectations"] = dg.MetadataValue.json(
                    sorted({r.expectation.name for r in gate.failed})
                )
        yield dg.MaterializeResult(asset_key=CHUNKS_KEY, metadata=metadata, check_results=chunk_checks)

    return curated_documents


def build_document_assets(config: DocumentsConfig, expectations_dir: Path) -> list[dg.AssetsDefinition]:
    """Both document assets, gated by `expectations/raw.documents.json` and `curated.document_chunks.json`."""
    dataset = config.dataset()
    raw_suite = load_suite(dataset.table, table_columns(dataset), expectations_dir)
    return [
        build_raw_documents(config, raw_suite),
        build_curated_documents(config, chunk_suite(expectations_dir)),
    ]
