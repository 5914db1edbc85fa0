"""From a file to the curated tables: what a run pays before its work starts, and one run for both."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.defs import dbt as dbt_defs
from dagster_project.defs.dbt.assets import build_dbt_assets, dbt_project
from dagster_project.defs.deployment import build_defs
from dagster_project.defs.flow import flow_selection
from dagster_project.defs.raw.assets import build_raw_assets
from dagster_project.defs.raw.sensors import build_landing_sensor
from dagster_project.defs.resources import Foundation
from dagster_project.registry import load_registry
from dagster_project.settings import DBT_PROJECT_DIR
from tests.conftest import land, orders_csv

MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
# Order 10 has no id and order 11 a negative amount: two blocking expectations fail.
BAD_ORDERS = orders_csv(10, 4).replace("\n10,", "\n,").replace("11.50", "-11.50")


@pytest.fixture
def parses(monkeypatch) -> list[list[str]]:
    """The dbt commands the definitions run while loading under `dagster dev` (recorded, not run)."""
    calls: list[list[str]] = []

    class Invocation:
        def wait(self):
            return self

    def cli(self, args, **kwargs):
        calls.append(list(args))
        return Invocation()

    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    monkeypatch.setattr(dbt_defs.FoundationDbtCli, "cli", cli)
    return calls


def dev_manifest(settings) -> Path:
    """The manifest `dagster dev` parsed into the data folder before (a copy of `make setup`'s)."""
    path = settings.data_dir / "dbt" / "manifest" / "manifest.json"
    path.parent.mkdir(parents=True)
    shutil.copy(MANIFEST, path)
    return path


def test_a_run_worker_loading_the_definitions_does_not_parse_dbt_again(settings, parses):
    # Every run's process loads the definitions: with the manifest newer than the dbt project, a
    # `dbt parse` there (seconds, more than a small build) would only delay the run.
    dev_manifest(settings)
    dbt_defs.defs(settings)
    assert parses == []


def test_an_edited_dbt_project_is_parsed_again_under_dagster_dev(settings, parses):
    # Older than a model file: an edit made after the last parse shows up on reload.
    manifest = dev_manifest(settings)
    os.utime(manifest, (0, 0))
    dbt_defs.defs(settings)
    assert parses == [["parse", "--quiet"]]


def test_runs_execute_their_steps_in_the_run_process(settings):
    # A step subprocess would load every definition again before the ingest or dbt build starts.
    job = build_defs(settings).resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "in_process"


ORDERS = dg.AssetKey(["raw", "orders"])
STG_ORDERS = dg.AssetKey(["staging", "stg_orders"])
STG_CUSTOMERS = dg.AssetKey(["staging", "stg_customers"])
STG_PRODUCTS = dg.AssetKey(["staging", "stg_products"])
CURATED_ORDERS = dg.AssetKey(["curated", "orders"])


@pytest.fixture
def flow_defs(settings) -> dg.Definitions:
    """Raw assets and dbt models, conditions evaluated and nothing built: dbt needs no resource here."""
    raw = build_raw_assets(load_registry(settings.sources_file), settings.expectations_dir)
    models = build_dbt_assets(dbt_project(), settings.expectations_dir)
    resources = {
        "foundation": Foundation.from_settings(settings),
        "dbt": dg.ResourceDefinition.none_resource(),
    }
    return dg.Definitions(assets=[*raw, models], resources=resources)


def test_a_landing_run_selects_the_models_the_automation_would_request_after_it(flow_defs):
    # One run from the file to the models, and the same models the automation's next tick would
    # have requested after the raw update: not those reading something missing or held back.
    instance = dg.DagsterInstance.ephemeral()
    graph = flow_defs.resolve_asset_graph()
    cursor = dg.evaluate_automation_conditions(defs=flow_defs, instance=instance).cursor

    def tick() -> set[dg.AssetKey]:
        """One automation tick; what it requests is built (reported) before the next one."""
        nonlocal cursor
        result = dg.evaluate_automation_conditions(defs=flow_defs, instance=instance, cursor=cursor)
        cursor = result.cursor
        requested = {key for key in graph.materializable_asset_keys if result.get_num_requested(key)}
        for key in requested:
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        if requested:
            tick()  # the daemon's next tick sees that build
        return requested

    def landing_run_then_automation() -> tuple[set[dg.AssetKey], set[dg.AssetKey]]:
        selected = flow_selection(dg.build_sensor_context(instance=instance, definitions=flow_defs), ORDERS)
        assert selected[0] == ORDERS
        instance.report_runless_asset_event(dg.AssetMaterialization(ORDERS))  # the batch committed
        return set(selected[1:]), tick()

    # Customers and products never landed: only stg_orders can be built.
    assert landing_run_then_automation() == ({STG_ORDERS}, {STG_ORDERS})
    for key in (STG_CUSTOMERS, STG_PRODUCTS):
        instance.report_runless_asset_event(dg.AssetMaterialization(key))
    tick()
    assert landing_run_then_automation() == ({STG_ORDERS, CURATED_ORDERS}, {STG_ORDERS, CURATED_ORDERS})
    # stg_customers' last build held back by a blocking check: curated.orders waits for its release.
    check = next(
        k for k in graph.get_check_keys_for_assets({STG_CUSTOMERS}) if graph.get_check_spec(k).blocking
    )
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(asset_key=STG_CUSTOMERS, check_name=check.name, passed=False)
    )
    tick()
    assert landing_run_then_automation() == ({STG_ORDERS}, {STG_ORDERS})


def test_a_held_batch_in_a_landing_run_builds_no_model(settings, flow_defs):
    # The raw step fails when its batch is held back; the dbt step after it never starts.
    instance = dg.DagsterInstance.ephemeral()
    land(settings, "orders/bad.csv", BAD_ORDERS)
    job = flow_defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(
        run_config={"ops": {"raw__orders": {"config": {"files": ["orders/bad.csv"]}}}},
        instance=instance,
        asset_selection=[ORDERS, STG_ORDERS, CURATED_ORDERS],
        raise_on_error=False,
    )
    assert not result.success
    started = {e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START}
    assert started == {"raw__orders"}
    assert instance.get_latest_materialization_event(STG_ORDERS) is None


def test_a_landing_run_carries_the_models_once_its_backlog_is_drained(settings, registry, flow_defs):
    # While more files are due than one run carries, the runs ingest only (the next batch need not
    # wait for a build); the run that drains the backlog carries the models.
    sensor = build_landing_sensor(registry["orders"], 5)
    land(settings, "orders/a.csv", orders_csv(1, 1))
    land(settings, "orders/b.csv", orders_csv(2, 1))
    one_per_run = settings.__class__(**{**settings.__dict__, "sensor_max_files_per_run": 1})

    def tick(settings, cursor=None):
        context = dg.build_sensor_context(
            cursor=cursor,
            instance=dg.DagsterInstance.ephemeral(),
            resources={"foundation": Foundation.from_settings(settings)},
            definitions=flow_defs,
        )
        return sensor(context)

    first = tick(one_per_run)
    assert [r.asset_selection for r in first.run_requests] == [[ORDERS]]
    last = tick(one_per_run, first.cursor)
    # nothing else the models read was landed yet: stg_orders only
    assert [r.asset_selection for r in last.run_requests] == [[ORDERS, STG_ORDERS]]
    # One run carrying both files drains it at once.
    assert [r.asset_selection for r in tick(settings).run_requests] == [[ORDERS, STG_ORDERS]]
