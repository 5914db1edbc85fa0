"""`make dev`: `dagster dev` serves the UI; a dropped file flows to raw, staging and curated, no clicks;
a batch held back by its gate stops there, as the daemon's automation sensor decides."""

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import InstigatorType, TickStatus

from dagster_project.settings import Settings
from tests.conftest import customers_csv, orders_csv, products_parquet
from tests.servers.dagster_dev import DagsterDev, dagster_dev, drop_file, embedded_env, table_rows

pytestmark = pytest.mark.slow

ORDERS = dg.AssetKey(["raw", "orders"])
STG_ORDERS = dg.AssetKey(["staging", "stg_orders"])
# Order 10 has no id and order 11 a negative amount: two blocking expectations fail, the batch is held.
BAD_ORDERS = orders_csv(10, 4).replace("\n10,", "\n,").replace("11.50", "-11.50")


def _runs(instance: dg.DagsterInstance, layer: str) -> list[dg.DagsterRun]:
    """Runs that materialize assets of a layer (`raw`, or `staging`/`curated` for dbt), oldest first."""
    layers = {layer} if layer == "raw" else {"staging", "curated"}
    runs = [r for r in instance.get_runs() if any(k.path[0] in layers for k in r.asset_selection or ())]
    return sorted(runs, key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)


def _builds(instance: dg.DagsterInstance) -> int:
    """How often stg_orders was built (by the landing run itself or by the automation's run)."""
    return len(instance.fetch_materializations(STG_ORDERS, limit=1000).records)


def _all_finished(instance: dg.DagsterInstance) -> bool:
    return all(r.is_finished for r in instance.get_runs())


def _automation_ticks_after(instance: dg.DagsterInstance, timestamp: float) -> list:
    """Finished ticks of the `curated_automation` sensor that started evaluating after `timestamp`."""
    states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
    [state] = [s for s in states if s.name == "curated_automation"]
    ticks = instance.get_ticks(
        state.instigator_origin_id,
        state.selector_id,
        after=timestamp,
        statuses=[TickStatus.SUCCESS, TickStatus.SKIPPED],
    )
    return [t for t in ticks if t.timestamp > timestamp]


def _wait_for_curated(dev: DagsterDev, instance: dg.DagsterInstance, settings: Settings, rows: int) -> None:
    dev.wait_for(
        lambda: table_rows(settings, "curated.orders") == rows and _all_finished(instance),
        240,
        f"curated.orders to hold {rows} orders and every run to finish",
    )


def test_dagster_dev_flows_to_curated_with_no_clicks_and_a_held_batch_requests_nothing(tmp_path):
    data = tmp_path / "data"
    env = embedded_env(
        data,
        FOUNDATION_SENSOR_INTERVAL_SECONDS="1",
        FOUNDATION_SENSOR_MIN_FILE_AGE_SECONDS="0",
        FOUNDATION_AUTOMATION_INTERVAL_SECONDS="1",
    )
    with dagster_dev(env, tmp_path / "dev.log") as dev:
        assert "dagster_webserver_version" in dev.info
        settings = Settings.for_data_dir(data)
        instance = dg.DagsterInstance.from_config(env["DAGSTER_HOME"])
        # Customers first: the orders suite checks that every order's customer exists.
        drop_file(data / "landing" / "customers", "c.csv", customers_csv(1, 7))
        drop_file(data / "landing" / "products", "p.parquet", products_parquet(1, 5))
        dev.wait_for(lambda: table_rows(settings, "raw.customers") == 7, 150, "the customers run")
        drop_file(data / "landing" / "orders", "dropped.csv", orders_csv(1, 7))
        dev.wait_for(
            lambda: table_rows(settings, "raw.orders") == 7, 150, "the sensor's run to commit raw.orders"
        )
        # On to staging, then the orders fact, with no clicks (in the landing run, or the automation's).
        _wait_for_curated(dev, instance, settings, 7)
        assert table_rows(settings, "staging.stg_orders") == 7
        builds = _builds(instance)

        # A bad batch: its run fails (held on its audit branch) and, once the daemon's automation
        # sensor has looked at the instance after that run ended, no dbt run was requested.
        raw_runs = len(_runs(instance, "raw"))
        drop_file(data / "landing" / "orders", "bad_batch.csv", BAD_ORDERS)
        held = dev.wait_for(
            lambda: len(runs := _runs(instance, "raw")) > raw_runs and runs[-1].is_finished and runs[-1],
            150,
            "the bad batch's run to finish",
        )
        assert held.status == dg.DagsterRunStatus.FAILURE and ORDERS in held.asset_selection
        ended = instance.get_run_record_by_id(held.run_id).end_time
        ticks = dev.wait_for(
            lambda: _automation_ticks_after(instance, ended), 120, "an automation tick after the held run"
        )
        assert not [t.tick_data.run_ids for t in ticks if t.tick_data.run_ids]
        # Its own run selected the models too (nothing was held when it was requested): their step
        # never started after the failed raw step.
        assert _builds(instance) == builds, "a held batch built the models"
        assert table_rows(settings, "raw.orders") == 7

        # A good batch landing while the bad one is still held flows on as before.
        drop_file(data / "landing" / "orders", "later.csv", orders_csv(20, 2))
        _wait_for_curated(dev, instance, settings, 9)
        assert _builds(instance) > builds
