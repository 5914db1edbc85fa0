"""Held batches in Dagster: the `no_held_batches` check of each gated raw asset, and the jobs that
release or discard a held batch from the UI (Launchpad config: table, branch).

The check is evaluated at every materialization of the asset and by both jobs, so a later good
file does not turn the asset green while an older batch still waits for review.
"""

import dagster as dg
from pyiceberg.table import Table

from dagster_project.defs.asset_metadata import as_evaluation
from dagster_project.defs.resources import Foundation
from dagster_project.lakehouse.held import HeldBatch, held_batches
from dagster_project.lakehouse.review import NotHeld, discard_held, held_rows, release_held
from dagster_project.lakehouse.tables import open_catalog

HELD_CHECK = "no_held_batches"
RELEASE_JOB = "release_held_batch"
DISCARD_JOB = "discard_held_batch"


def held_check_spec(asset: dg.AssetKey) -> dg.AssetCheckSpec:
    """The check that fails while any batch of the asset's table is held back."""
    return dg.AssetCheckSpec(
        name=HELD_CHECK,
        asset=asset,
        description="Fails while a batch of this table is held back by its quality gate (on its "
        f"`audit-<run id>` branch), listing each. Review one, then launch `{RELEASE_JOB}` or "
        f"`{DISCARD_JOB}` with config `table` and `branch`.",
        # Not blocking: a later good batch is on main and may flow downstream; this check only
        # keeps the held ones in sight until someone decides.
        blocking=False,
    )


def held_checked(asset: dg.AssetsDefinition) -> bool:
    """Whether the asset carries `no_held_batches` (gated raw assets do)."""
    return any(k.name == HELD_CHECK for k in asset.check_keys)


def _file_label(uri: str) -> str:
    return uri.rsplit("/", 2)[-2] + "/" + uri.rsplit("/", 1)[-1] if uri.count("/") >= 2 else uri


def held_check_result(table: Table | None, asset: dg.AssetKey | None = None) -> dg.AssetCheckResult:
    """`no_held_batches` as it stands now: passed, or failed with every held batch listed."""
    held: list[HeldBatch] = held_batches(table) if table is not None else []
    name = ".".join(table.name()) if table is not None else ""
    rows = [
        f"| {b.branch} | {', '.join(_file_label(u) for u, _ in b.files) or '-'} | "
        f"{(b.reason or '-').replace('|', '/')} | {b.decided_at or '-'} |"
        for b in held
    ]
    metadata: dict[str, object] = {"held_batches": dg.MetadataValue.int(len(held))}
    if held:
        metadata["held"] = dg.MetadataValue.md(
            "| branch | files | reason | held since |\n|---|---|---|---|\n" + "\n".join(rows)
        )
        metadata["branches"] = dg.MetadataValue.json([b.branch for b in held])
        metadata["what_to_do"] = dg.MetadataValue.text(
            f"Launch {RELEASE_JOB} or {DISCARD_JOB} with config table: {name}, branch: <branch> "
            f"(or `foundation release|discard {name} <branch>`)"
        )
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=HELD_CHECK,
        passed=not held,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,
        description=None
        if not held
        else f"{len(held)} batch(es) of {name} held back: " + ", ".join(b.branch for b in held),
    )


class HeldBatchConfig(dg.Config):
    """Which held batch: see the `no_held_batches` check of the asset, or `foundation held`."""

    table: str  # e.g. raw.orders
    branch: str  # e.g. audit-<run id>


def _asset_of(table: str, checked: set[str]) -> dg.AssetKey | None:
    """The asset of a table that carries the check (raw tables with a suite), else None."""
    return dg.AssetKey(table.split(".")) if table in checked else None


def _report_check(context: dg.OpExecutionContext, settings, table_name: str, asset: dg.AssetKey) -> None:
    table = open_catalog(settings).load_table(table_name)
    context.log_event(as_evaluation(held_check_result(table, asset)))


def build_held_jobs(checked_tables: set[str]) -> list[dg.JobDefinition]:
    """The release and discard jobs; `checked_tables` are those whose asset carries `no_held_batches`."""

    @dg.op(name="release_batch", description="Publish a held batch to main after review (audited).")
    def release_batch(context: dg.OpExecutionContext, config: HeldBatchConfig, foundation: Foundation):
        settings = foundation.settings()
        catalog = open_catalog(settings)
        table = catalog.load_table(config.table) if catalog.table_exists(config.table) else None
        batch = next((b for b in held_batches(table) if b.branch == config.branch), None) if table else None
        rows = held_rows(table, batch).num_rows if table is not None and batch is not None else None
        try:
            snapshot_id = release_held(settings, config.table, config.branch, via=f"run {context.run_id}")
        except NotHeld as exc:
            raise dg.Failure(description=str(exc)) from exc
        context.log.info(f"{config.table}: released {config.branch}; main is now snapshot {snapshot_id}")
        asset = _asset_of(config.table, checked_tables)
        if asset is not None:
            # main moved: that is a materialization of the table (and what downstream waits for).
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=asset,
                    description=f"released {config.branch} after review",
                    metadata={
                        "quality_gate": "released after review",
                        "released_branch": config.branch,
                        "rows_released": dg.MetadataValue.int(rows or 0),
                        "snapshot_id": str(snapshot_id),
                    },
                )
            )
            _report_check(context, settings, config.table, asset)

    @dg.op(name="discard_batch", description="Drop a held batch; main unchanged (audited).")
    def discard_batch(context: dg.OpExecutionContext, config: HeldBatchConfig, foundation: Foundation):
        settings = foundation.settings()
        try:
            cascaded = discard_held(settings, config.table, config.branch, via=f"run {context.run_id}")
        except NotHeld as exc:
            raise dg.Failure(description=str(exc)) from exc
        context.log.info(f"{config.table}: discarded {config.branch}; main unchanged")
        for table in cascaded:
            why = f"it was held because {config.table} was not published"
            context.log.info(f"{table}: discarded {config.branch} too; {why}")
        for table in [config.table, *cascaded]:  # each table's held check sees its batch gone
            asset = _asset_of(table, checked_tables)
            if asset is not None:
                _report_check(context, settings, table, asset)

    @dg.job(name=RELEASE_JOB, description="Release a held batch: config table (raw.orders) and branch.")
    def release_job():
        release_batch()

    @dg.job(name=DISCARD_JOB, description="Discard a held batch: config table (raw.orders) and branch.")
    def discard_job():
        discard_batch()

    return [release_job, discard_job]
