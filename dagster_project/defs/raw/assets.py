"""Raw assets `raw/<dataset>`: one per registry dataset, landing files → Iceberg `raw.<dataset>`."""

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import dagster as dg
from sqlalchemy.exc import OperationalError

from dagster_project.defs.asset_metadata import column_schema
from dagster_project.defs.held import DISCARD_JOB, HELD_CHECK, RELEASE_JOB, held_check_result, held_check_spec
from dagster_project.defs.raw.checks import check_results, check_specs
from dagster_project.defs.raw.freshness import CHECK_NAME, freshness_now, freshness_specs
from dagster_project.defs.raw.metadata import ingest_metadata
from dagster_project.defs.resources import Foundation
from dagster_project.docs_site.links import docs_link
from dagster_project.errors import EnvironmentFailure
from dagster_project.ingest.run import IngestReport, ingest_dataset
from dagster_project.lakehouse.evolution import SchemaConflict
from dagster_project.lakehouse.tables import LINEAGE_FIELDS, open_catalog, raw_schema
from dagster_project.landing.store import LandingUnavailable
from dagster_project.quality.docs import save_data_docs
from dagster_project.quality.gate import GateReport
from dagster_project.quality.suites import Suite, load_suite
from dagster_project.registry import Dataset, Registry
from dagster_project.settings import Settings


class RawIngestConfig(dg.Config):
    """Which landed files a run ingests."""

    files: list[str] = []  # landing keys, e.g. orders/orders_2026-11-01.csv; empty: every file of the dataset
    retry_quarantined: bool = False  # try again file versions quarantined before (e.g. after a registry fix)


# The catalog database or the object store not answering, a full disk, a memory limit: worth
# retrying the whole step, which is safe because ingest is exactly-once (a retry skips what a
# failed attempt committed) and nothing was quarantined for them.
TRANSIENT_ERRORS = (OperationalError, EnvironmentFailure)
MAX_RETRIES = 3


def raise_for_retry(context: dg.AssetExecutionContext, dataset: Dataset, settings: Settings, exc: Exception):
    """Ask Dagster to retry the step with backoff; after the last retry, fail with what to check."""
    attempt = context.retry_number
    if attempt < MAX_RETRIES:
        wait = 2**attempt
        context.log.warning(
            f"{dataset.table}: {type(exc).__name__}: {exc}; retry {attempt + 1}/{MAX_RETRIES} in {wait} s"
        )
        raise dg.RetryRequested(max_retries=MAX_RETRIES, seconds_to_wait=wait) from exc
    if isinstance(exc, LandingUnavailable):
        what = f"the object store ({settings.landing_uri}) still failing"
    elif isinstance(exc, OperationalError):
        uri = settings.catalog_properties.get("uri", settings.catalog_name)
        what = f"the Iceberg catalog database ({uri}) still failing"
    else:  # the machine (disk, memory, permissions) or a table that needs recovering: its own words
        what = "still failing"
    raise dg.Failure(
        description=f"{dataset.table}: {what} after {MAX_RETRIES} retries: {exc}. Nothing was quarantined "
        "for it and nothing was published twice: once the cause is gone, re-run (the files stay due).",
        metadata={"error": str(exc)[:2000]},
    ) from exc


def ingest_and_report(
    context: dg.AssetExecutionContext,
    settings: Settings,
    dataset: Dataset,
    suite: Suite | None,
    ingest: Callable[[], IngestReport],
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult | dg.AssetObservation]:
    """Run one ingest (a transient failure retries the step), then report it: Data Docs, metadata, checks.

    A batch held back by its gate is not materialized: its check results and an observation saying
    what was held are reported, then the step fails (see `held_message`).
    """
    try:
        report = ingest()
    except TRANSIENT_ERRORS as exc:
        raise_for_retry(context, dataset, settings, exc)
    docs = None
    if report.gate is not None:
        # Only the page's source is saved: the docs server renders it when first opened (GX's import
        # costs seconds of CPU, which every run would pay).
        page = save_data_docs(
            report.gate,
            table=dataset.table,
            run_id=context.run.run_id,
            run_time=report.started_at,
            out_dir=settings.data_docs_dir,
        )
        docs = docs_link(settings, page)  # the page on the docs server: a file:// link would not open
    results = check_results(suite, report.gate, docs)
    selected = context.selected_asset_check_keys
    if dg.AssetCheckKey(asset_key(dataset), CHECK_NAME) in selected:
        # In this step, after the commit, from main: no step (process start) of its own per ingest.
        results.append(freshness_now(settings, dataset))
    if dg.AssetCheckKey(asset_key(dataset), HELD_CHECK) in selected:
        catalog = open_catalog(settings)
        table = catalog.load_table(dataset.table) if catalog.table_exists(dataset.table) else None
        results.append(held_check_result(table))
    metadata = ingest_metadata(settings, dataset, report, docs)
    gate = report.gate
    if gate is None or not gate.held_back:
        yield dg.MaterializeResult(metadata=metadata, check_results=results)
        return
    if report.ingested:
        # Only the failing files were held: the rest is on main (materialized), and the step fails
        # all the same, so that the held files are seen.
        yield dg.MaterializeResult(metadata=metadata, check_results=results)
        raise dg.Failure(
            description=held_message(dataset.table, gate, report.held_back, published=len(report.ingested)),
            metadata={"audit_branch": gate.branch},
        )
    # Held back: main did not change, so nothing was materialized. Its checks are recorded, what was
    # held (preview, failing rows, branch) goes on an observation of the asset (its Events tab), and
    # the step fails, so the run, the asset's Overview and its Events say the attempt did not land.
    yield from results
    yield dg.AssetObservation(asset_key=asset_key(dataset), metadata=metadata)
    raise dg.Failure(description=held_message(dataset.table, gate), metadata={"audit_branch": gate.branch})


def held_message(table: str, gate: GateReport, files: list[dict] | None = None, *, published: int = 0) -> str:
    """The failure of a run whose batch (or some of its files) was held back: branch, why, what to do.

    Args:
        files: The held files ({"file", "rows", "failed"}), when only they were held.
        published: How many files of the batch reached main (0: the whole batch was held).
    """
    review = (
        f"Fix the source and re-run, or launch {RELEASE_JOB} / {DISCARD_JOB} "
        f"with config table: {table}, branch: {gate.branch} "
        f"(or `foundation release|discard {table} {gate.branch}`)."
    )
    if published and files:
        held = "; ".join(f"{f['file']} ({f.get('failed', '')})" for f in files)
        return (
            f"{table}: {len(files)} file(s) HELD BACK by the quality gate on branch {gate.branch}, "
            f"failing on their own rows: {held}. The other {published} file(s) of the batch are "
            f"published to main. {review}"
        )
    failed = [
        f"{r.expectation.name} ({r.unexpected_count} unexpected)"
        if r.unexpected_count is not None
        else f"{r.expectation.name} (observed {r.observed_value})"
        for r in gate.failed
    ] + gate.refused
    return (
        f"{table}: batch HELD BACK by the quality gate on branch {gate.branch}, main unchanged. "
        f"Failed: {'; '.join(failed)}. Its rows and the failing rows are in this run's observation "
        f"of the asset (preview, failing_rows). {review}"
    )


def asset_key(dataset: Dataset) -> dg.AssetKey:
    return dg.AssetKey(["raw", dataset.name])


def table_columns(dataset: Dataset) -> dict[str, str]:
    """Every column of the raw table with its registry type (declared, then lineage): suites are checked
    against these types when definitions load."""
    return {c.name: c.type for c in dataset.columns} | {name: t for name, t, _ in LINEAGE_FIELDS}


def build_raw_asset(
    dataset: Dataset, suite: Suite | None = None, conflict: SchemaConflict | None = None
) -> dg.AssetsDefinition:
    """The raw asset of one dataset, generated from its registry entry and gated by its suite.

    A `conflict` (a registry type change the table cannot take in place) is shown on the asset
    itself, in its description and metadata; its runs then stop with the same words until
    `foundation rebuild` ran. The other assets load and run as usual.
    """
    freshness = (
        dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=dataset.freshness_max_age_hours))
        if dataset.freshness_max_age_hours
        else None
    )

    # A multi-asset of one asset only to be subsettable: its check outputs are then optional, so a
    # run with no new batch yields no check result at all instead of a pass it did not evaluate.
    @dg.multi_asset(
        name="__".join(asset_key(dataset).path),
        specs=[
            dg.AssetSpec(
                key=asset_key(dataset),
                group_name="raw",
                description=(f"**Schema conflict, ingest stopped:** {conflict}\n\n" if conflict else "")
                + f"{dataset.description}\n\nLanded as {dataset.format} under `{dataset.prefix}`; "
                f"primary key {', '.join(dataset.primary_key)}. Iceberg table `{dataset.table}`.",
                kinds={"iceberg", "duckdb", dataset.format},
                owners=[dataset.owner],
                tags={"layer": "raw", "dataset": dataset.name},
                metadata={
                    "dagster/table_name": dataset.table,
                    "landing_prefix": dataset.prefix,
                    "format": dataset.format,
                    "primary_key": ", ".join(dataset.primary_key),
                    "pii_columns": ", ".join(dataset.pii_columns) or "none",
                    **({"schema_conflict": dg.MetadataValue.text(str(conflict))} if conflict else {}),
                    "dagster/column_schema": column_schema(
                        raw_schema(dataset), {c.name: c.pii for c in dataset.columns if c.pii}
                    ),
                },
                freshness_policy=freshness,
            )
        ],
        op_tags={"foundation/dataset": dataset.name},
        check_specs=[
            *check_specs(asset_key(dataset), suite),
            *freshness_specs(dataset),
            *([held_check_spec(asset_key(dataset))] if suite else []),
        ],
        can_subset=True,
    )
    def raw_asset(context: dg.AssetExecutionContext, config: RawIngestConfig, foundation: Foundation):
        settings = foundation.settings()
        yield from ingest_and_report(
            context,
            settings,
            dataset,
            suite,
            lambda: ingest_dataset(
                settings,
                dataset,
                run_id=context.run.run_id,
                keys=config.files or None,
                retry_quarantined=config.retry_quarantined,
                suite=suite,
                log=context.log,
            ),
        )

    return raw_asset


def build_raw_assets(
    registry: Registry, expectations_dir: Path, conflicts: dict[str, SchemaConflict] | None = None
) -> list[dg.AssetsDefinition]:
    """Raw assets of every dataset; a malformed suite fails here, when definitions load.

    `conflicts` (from `schema_conflicts`) are shown on their own dataset's asset only.
    """
    conflicts = conflicts or {}
    return [
        build_raw_asset(
            dataset,
            load_suite(dataset.table, table_columns(dataset), expectations_dir),
            conflicts.get(dataset.name),
        )
        for dataset in registry
    ]
