"""`foundation rebuild raw.NAME` and `foundation retry NAME`: apply a registry fix to what has landed.

Both end as `foundation ingest` does: one dbt run of the models downstream of the table and of any
model behind its inputs (after a rebuild, a full refresh of those reading the table); exit 1 when
that run fails.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys

from dagster_project.settings import Settings
from dagster_project.subcommand import Subcommand


def rebuild_command(settings: Settings, args: argparse.Namespace) -> int:
    """Rebuild one raw table from the landing zone in the registry's current types; print what changed."""
    from dagster_project.defs.raw.assets import table_columns
    from dagster_project.ingest.rebuild import dataset_of, rebuild
    from dagster_project.quality.suites import load_suite
    from dagster_project.registry import load_registry

    dataset = dataset_of(load_registry(settings.sources_file), args.table)
    suite = load_suite(dataset.table, table_columns(dataset), settings.expectations_dir)
    print(f"{dataset.table}: re-ingesting every landed file of {dataset.prefix} in the registry's types …")
    report = rebuild(settings, dataset, suite=suite)
    print(
        f"{dataset.table}: rebuilt from {report.files} file version(s), {report.rows:,} rows; "
        f"snapshot {report.replaced_snapshot_id} → {report.snapshot_id}"
    )
    for change in report.type_changes:
        print(f"  type change: {change}")
    if report.quarantined:
        print(
            "  quarantined, not in the rebuilt table (`foundation status` says why): "
            f"{len(report.quarantined)}"
        )
        for line in report.quarantined:
            print(f"    {line}")
    if report.set_apart:
        print(f"  rows set apart, values that do not fit their columns (ops.quarantine): {report.set_apart}")
    print(
        f"the old rows: foundation query --as data_engineer --as-of {report.replaced_snapshot_id} "
        f'"select * from {dataset.table} limit 20"'
    )
    instance = _tell_dagster(settings, dataset.name, report.snapshot_id)
    # The swap is not an append: the models reading the table are rebuilt in full, by this build.
    return _build_downstream(settings, instance, dataset.name)


def _build_downstream(settings: Settings, instance, dataset: str) -> int:  # noqa: ANN001
    """The models downstream of `raw.<dataset>` and every model behind its inputs, built now: 0 or 1."""
    import dagster as dg

    from dagster_project.ingest_landed import build_models_behind

    # The definitions this command loaded (its dbt manifest) are those the build uses: a registry
    # edit that adds a model is parsed by `foundation sources add` or `foundation ingest`.
    return 0 if build_models_behind(settings, instance, [dg.AssetKey(["raw", dataset])], sys.stdout) else 1


def _tell_dagster(settings: Settings, dataset: str, snapshot_id: int | None):  # noqa: ANN202
    """A materialization of `raw/<dataset>` without a run, so that the models downstream see the new rows."""
    import dagster as dg

    from dagster_project.defs.deployment import open_instance

    instance = open_instance(settings)
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=dg.AssetKey(["raw", dataset]),
            description="foundation rebuild: the table was re-ingested in the registry's types",
            metadata={"rebuild_snapshot_id": str(snapshot_id)},
        )
    )
    return instance


def retry_command(settings: Settings, args: argparse.Namespace) -> int:
    """Run the raw asset with `retry_quarantined: true`, as the launchpad would; print what it did.

    A registry change the table cannot take in place stops here with the rebuild command to run.
    """
    import dagster as dg

    from dagster_project.defs.deployment import build_defs, open_instance
    from dagster_project.ingest.rebuild import dataset_of
    from dagster_project.lakehouse.evolution import SchemaConflict, type_changes
    from dagster_project.lakehouse.tables import load_table, open_catalog
    from dagster_project.registry import load_registry

    dataset = dataset_of(load_registry(settings.sources_file), args.dataset)
    catalog = open_catalog(settings)
    if catalog.table_exists(dataset.table):  # a narrowing change: the rebuild's words, before any run
        changes = type_changes(load_table(catalog, dataset.table), dataset)
        if conflicts := [c for c in changes if not c.widening]:
            raise SchemaConflict(dataset.name, dataset.table, conflicts, settings.sources_file)
    instance = open_instance(settings)
    job = build_defs(settings).resolve_implicit_global_asset_job_def()
    op = f"raw__{dataset.name}"
    with contextlib.redirect_stdout(io.StringIO()):
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            asset_selection=[dg.AssetKey(["raw", dataset.name])],
            run_config={
                "ops": {op: {"config": {"retry_quarantined": True}}},
                "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},
            },
            tags={"foundation/dataset": dataset.name, "foundation/trigger": "retry"},
        )
    if not result.success:
        failures = result.get_step_failure_events()
        cause = failures[0].step_failure_data.error.message.strip() if failures else "the run failed"
        print(f"{dataset.table}: retry failed (run {result.run_id}): {cause.splitlines()[0]}")
        return 1
    md = {k: v.value for k, v in result.asset_materializations_for_node(op)[0].metadata.items()}
    print(
        f"{dataset.table}: +{md.get('rows_ingested', 0)} rows from {md.get('files_ingested', 0)} file(s), "
        f"{md.get('files_quarantined', 0)} quarantined, {md.get('rows_set_apart', 0)} rows set apart "
        f"(run {result.run_id})"
    )
    if md.get("schema_changes"):
        print(f"  schema evolved in place: {md['schema_changes']}")
    return _build_downstream(settings, instance, dataset.name)


def _rebuild_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("table", help="e.g. raw.orders")


def _retry_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", help="e.g. orders")


REBUILD = Subcommand(
    "rebuild",
    "re-ingest a raw table from the landing zone in the registry's types, swap it in",
    "dagster_project.rebuild_commands:rebuild_command",
    _rebuild_arguments,
)
RETRY = Subcommand(
    "retry",
    "ingest a dataset's quarantined files again (after a registry fix)",
    "dagster_project.rebuild_commands:retry_command",
    _retry_arguments,
)
