"""The models' automation condition: a held batch starts no model run, a later good batch does.

The same behaviour in a real daemon is proven by tests/test_dev_server.py (slow); this one evaluates
the conditions in process, tick by tick, against an instance holding the real raw runs.
"""

import dagster as dg

from dagster_project.defs.dbt.assets import build_dbt_assets, dbt_project
from dagster_project.defs.held import RELEASE_JOB, build_held_jobs
from dagster_project.defs.raw.assets import build_raw_assets
from dagster_project.defs.resources import Foundation
from dagster_project.registry import load_registry
from tests.conftest import customers_csv, land, orders_csv

STG_ORDERS = dg.AssetKey(["staging", "stg_orders"])
ORDERS = dg.AssetKey(["raw", "orders"])
# Order 10 has no id and order 11 a negative amount: two blocking expectations fail.
BAD = orders_csv(10, 4).replace("\n10,", "\n,").replace("11.50", "-11.50")


def test_a_held_batch_requests_no_model_run_and_a_later_good_batch_does(settings):
    instance = dg.DagsterInstance.ephemeral()
    raw = build_raw_assets(load_registry(settings.sources_file), settings.expectations_dir)
    models = build_dbt_assets(dbt_project(), settings.expectations_dir)
    # Conditions are evaluated, nothing is run: dbt needs no resource here.
    foundation = Foundation.from_settings(settings)
    resources = {"foundation": foundation, "dbt": dg.ResourceDefinition.none_resource()}
    defs = dg.Definitions(assets=[*raw, models], resources=resources)

    def ingest(key: dg.AssetKey, file: str) -> dg.ExecuteInProcessResult:
        config = {"ops": {f"raw__{key.path[1]}": {"config": {"files": [file]}}}}
        return dg.materialize(
            raw,
            instance=instance,
            resources={"foundation": foundation},
            run_config=config,
            raise_on_error=False,
            selection=[key],
        )

    start = dg.evaluate_automation_conditions(defs=defs, instance=instance)  # the sensor's first tick
    land(settings, "customers/c.csv", customers_csv(1, 7))
    assert ingest(dg.AssetKey(["raw", "customers"]), "customers/c.csv").success
    land(settings, "orders/good.csv", orders_csv(1, 5))
    assert ingest(ORDERS, "orders/good.csv").success
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=start.cursor)
    assert first.get_num_requested(STG_ORDERS) == 1
    # Ticks go on (the daemon's next one sees its request as handled); nothing new, nothing requested.
    idle = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert idle.total_requested == 0

    land(settings, "orders/bad.csv", BAD)
    held = ingest(ORDERS, "orders/bad.csv")
    assert not held.success  # held back: nothing materialized, checks failed
    after_held = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=idle.cursor)
    assert after_held.total_requested == 0

    land(settings, "orders/later.csv", orders_csv(20, 2))
    assert ingest(ORDERS, "orders/later.csv").success  # the bad batch is still held
    after_good = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after_held.cursor)
    assert after_good.get_num_requested(STG_ORDERS) == 1

    # Released after review: main moved, a materialization no failed check targets, so it flows too.
    idle = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=after_good.cursor)
    [release] = [j for j in build_held_jobs({"raw.orders"}) if j.name == RELEASE_JOB]
    branch = f"audit-{held.run_id}"
    config = {"ops": {"release_batch": {"config": {"table": "raw.orders", "branch": branch}}}}
    assert release.execute_in_process(run_config=config, instance=instance, resources=resources).success
    after_release = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=idle.cursor)
    assert after_release.get_num_requested(STG_ORDERS) == 1
