"""dbt models as assets `staging/<model>` and `curated/<model>`, each published to Iceberg through WAP."""

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject
from dagster_dbt.asset_utils import build_dbt_specs

from dagster_project.cards.publish import model_cards
from dagster_project.defs.dbt.metadata import catalog_metadata, declared_columns, outcome_metadata
from dagster_project.defs.raw.checks import check_results, check_specs
from dagster_project.defs.resources import Foundation
from dagster_project.defs.runs import dagster_run_alive
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.quality.suites import Suite, load_suite
from dagster_project.settings import DBT_PROJECT_DIR
from dagster_project.transform.behind import full_refresh_reasons
from dagster_project.transform.build import (
    dbt_target_dir,
    manifest_models,
    prepare_working_db,
    publish_build,
    run_dbt_build,
)
from dagster_project.transform.waiting_tests import exclude_args, not_run_by_model, waiting_tests

# One dbt build at a time: DuckDB lets one process write the working database.
DBT_POOL = "foundation_dbt"
OWNER = "team:data-platform"


def dbt_project(target_path: Path | None = None) -> DbtProject:
    """The dbt project; its manifest is made by `make setup` (dbt parse), or by `dagster dev` itself."""
    if target_path is None:
        return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    return DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR, target_path=target_path)


def load_manifest(project: DbtProject) -> dict[str, Any]:
    path = Path(project.manifest_path)
    if not path.exists():
        raise FileNotFoundError(
            f"dbt manifest {path} is missing: run `make setup` (it runs `dbt parse`), "
            "or `cd dbt_project && dbt parse --profiles-dir .`"
        )
    return json.loads(path.read_text())


# An upstream asset whose latest checks failed a blocking one: a model build held back by its gate
# (its materialization stays: it shows what was held and why) or a raw batch held back (no
# materialization: main did not change, so eager() sees no update from it; its failed checks target
# the asset's previous materialization). Either way main is not what the checks passed, so the models
# downstream do not start. Checked at every tick, not latched with the update: the run is over (eager
# waits for it) so its check results are stored, and a later good batch, or a release, is a newer
# materialization that no failed check targets, so the models run then. Not
# `all_deps_blocking_checks_passed`: that also waits on a release or a run with no new batch, whose
# materialization has no check results and should flow on.
UPSTREAM_HELD = dg.AutomationCondition.any_deps_match(
    dg.AutomationCondition.any_checks_match(dg.AutomationCondition.check_failed(), blocking_only=True)
    & ~dg.AutomationCondition.will_be_requested()  # rebuilt in this same tick: the run decides
).with_label("upstream_held")


class FoundationTranslator(DagsterDbtTranslator):
    """One name per table: dbt's `staging.stg_orders` is Iceberg's `staging.stg_orders` and Dagster's
    `staging/stg_orders`; sources map to the raw assets through their `meta.dagster.asset_key`."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "model":
            return dg.AssetKey([dbt_resource_props["config"]["schema"], dbt_resource_props["name"]])
        if (
            dbt_resource_props["resource_type"] == "source"
            and dbt_resource_props["meta"].get("read") == "all"
        ):
            return dg.AssetKey([dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        # The folder is the layer: models/staging → group staging, models/curated → group curated.
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if dbt_resource_props["resource_type"] == "model" and len(fqn) > 2 else None

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        # A new raw commit flows on with no clicks: a model runs when an upstream asset was updated
        # (or will be in the same tick), once nothing upstream is still running, unless that
        # update was a batch held back by its gate (UPSTREAM_HELD).
        if dbt_resource_props["resource_type"] != "model":
            return None
        return dg.AutomationCondition.eager() & ~UPSTREAM_HELD

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [OWNER]

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        tags = dict(super().get_tags(dbt_resource_props))
        if dbt_resource_props["resource_type"] == "model":
            tags["layer"] = dbt_resource_props["config"]["schema"]
        return tags

    def get_metadata(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, Any]:
        metadata = dict(super().get_metadata(dbt_resource_props))
        if dbt_resource_props["resource_type"] == "model":
            metadata["dagster/column_schema"] = declared_columns(dbt_resource_props)
            table = f"{dbt_resource_props['config']['schema']}.{dbt_resource_props['name']}"
            metadata["dagster/table_name"] = table
            metadata["iceberg_table"] = table
            key = dbt_resource_props["config"].get("unique_key")
            metadata["unique_key"] = ", ".join([key] if isinstance(key, str) else key or [])
        return metadata

    def lookup_keys(self, manifest: Mapping[str, Any]) -> dict[dg.AssetKey, dg.AssetKey]:
        """A lookup source (`raw_lookup.customer_names`) reads a raw table in full: in the asset
        graph it is that raw table (dbt needs two source names for one table, Dagster one key)."""
        return {
            self.get_asset_key(s): dg.AssetKey(s["meta"]["iceberg_table"].split("."))
            for s in manifest["sources"].values()
            if s["meta"].get("read") == "all"
        }

    def get_asset_spec(
        self, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        if not unique_id.startswith("model."):
            return spec
        lookups = self.lookup_keys(manifest)
        deps = {lookups.get(d.asset_key, d.asset_key): None for d in spec.deps}
        return spec.replace_attributes(deps=list(deps)).merge_attributes(kinds={"iceberg"})


class DbtBuildConfig(dg.Config):
    """How a run builds the selected models."""

    full_refresh: bool = False  # rebuild from every raw row and replace the models' Iceberg tables


def model_suites(manifest: Mapping[str, Any], expectations_dir: Path) -> dict[str, Suite]:
    """GX suites of model tables (`expectations/curated.customer_features.json`), by table name."""
    suites = {}
    for uid, model in manifest_models(manifest).items():
        # The model's YAML may declare `data_type` per column; undeclared types are not checked.
        columns = {name: c.get("data_type") for name, c in manifest["nodes"][uid]["columns"].items()}
        suite = load_suite(model.table, columns, expectations_dir)
        if suite is not None:
            suites[model.table] = suite
    return suites


def build_dbt_assets(project: DbtProject, expectations_dir: Path) -> dg.AssetsDefinition:
    """Every dbt model as an asset, dbt tests as asset checks, plus the GX suites of model tables."""
    manifest = load_manifest(project)
    translator = FoundationTranslator()
    specs, dbt_checks = build_dbt_specs(
        translator=translator,
        manifest=manifest,
        select="fqn:*",
        exclude="",
        selector="",
        io_manager_key=None,
        project=project,
    )
    suites = model_suites(manifest, expectations_dir)
    gx_checks = [
        spec for table, suite in suites.items() for spec in check_specs(dg.AssetKey(table.split(".")), suite)
    ]
    keys = {uid: dg.AssetKey([m.schema, m.name]) for uid, m in manifest_models(manifest).items()}

    @dg.multi_asset(
        name="dbt_models",
        specs=specs,
        check_specs=[*dbt_checks, *gx_checks],
        can_subset=True,
        op_tags={"foundation/layer": "dbt"},
        pool=DBT_POOL,
        allow_arbitrary_check_specs=True,
    )
    def dbt_models(
        context: dg.AssetExecutionContext, config: DbtBuildConfig, dbt: DbtCliResource, foundation: Foundation
    ):
        settings = foundation.settings()
        building = {uid for uid, key in keys.items() if key in context.selected_asset_keys}
        for table, action in prepare_working_db(settings, manifest, building).items():
            if action != "in step":
                context.log.info(f"working database: {table} {action}")
        # A raw table rebuilt after a model's watermark cannot be read incrementally: this build
        # is then a full refresh by itself (dbt's flag holds for the whole invocation).
        refresh = full_refresh_reasons(settings, manifest, building)
        for table, why in sorted(refresh.items()):
            context.log.info(f"full refresh: {table}: {why}")
        full_refresh = config.full_refresh or bool(refresh)
        # A test reading a model with no data yet is not run (it would error): reported, not gating.
        waiting = waiting_tests(manifest, open_catalog(settings), building)
        for uid, why in sorted(waiting.items()):
            context.log.info(f"dbt test {manifest['nodes'][uid]['name']} not run: {why}")
        not_run = {keys[uid]: tests for uid, tests in not_run_by_model(manifest, waiting).items()}
        started = time.monotonic()
        exclude = exclude_args(manifest, waiting)
        events, run_results = run_dbt_build(
            context, dbt, settings, manifest, full_refresh=full_refresh, exclude=exclude
        )
        # Where a build's seconds go (`make bench-latency` splits dbt from publish at this line).
        nodes, seconds = len(run_results["results"]), time.monotonic() - started
        context.log.info(
            f"dbt build returned: {nodes} node(s) in {seconds:.1f} s "
            f"(dbt's own {run_results.get('elapsed_time', 0):.1f} s)"
        )
        report = publish_build(
            settings,
            manifest,
            run_results,
            run_id=context.run.run_id,
            suites=suites,
            full_refresh=full_refresh,
            log=context.log,
            alive=dagster_run_alive(context.instance),
        )
        by_key = {keys[uid]: outcome for uid, outcome in report.outcomes.items()}
        selected_checks = context.selected_asset_check_keys
        gx_results = []
        for table, suite in suites.items():
            key = dg.AssetKey(table.split("."))
            outcome = by_key.get(key)
            if outcome is None or outcome.status == "not built":
                continue
            gx_results += [
                result
                for result in check_results(suite, outcome.gate, None, asset_key=key)
                if dg.AssetCheckKey(key, result.check_name) in selected_checks
            ]
        checks = [*(e for e in events if isinstance(e, dg.AssetCheckResult)), *gx_results]
        iceberg = open_catalog(settings)  # one catalog for the metadata and the cards
        catalog = catalog_metadata(settings, iceberg, manifest, report, checks, translator)
        cards = model_cards(settings, manifest, by_key, checks, context.log, catalog=iceberg)
        for event in events:
            if isinstance(event, dg.Output):
                key = context.asset_key_for_output(event.output_name)
                outcome = by_key.get(key)
                if outcome is not None:
                    extra = {**catalog.get(key, {}), **outcome_metadata(outcome), **cards.get(key, {})}
                    if key in not_run:  # their checks get no result: Dagster shows them skipped
                        extra["dbt_tests_not_run"] = dg.MetadataValue.json(not_run[key])
                    if full_refresh:
                        extra["full_refresh"] = refresh.get(outcome.model.table) or (
                            "asked for (full_refresh: true)"
                            if config.full_refresh
                            else "the whole build was one, for " + ", ".join(sorted(refresh))
                        )
                    event = event.with_metadata({**event.metadata, **extra})
            yield event
        yield from gx_results
        if report.errors:
            raise dg.Failure(
                description="dbt could not build: " + "; ".join(report.errors),
                metadata={
                    "dbt_invocation_id": report.invocation_id,
                    # Model table → the first lines of its error (what the CLI prints), no row values.
                    "failed_models": dg.MetadataValue.json(report.failures),
                    "dbt_run_results": str(dbt_target_dir(settings) / "run_results.json"),
                },
            )

    return dbt_models
