"""Freshness windows: a dataset with no new file within its window shows a failing check."""

import dataclasses
import json

import dagster as dg

from dagster_project.defs.raw.assets import build_raw_asset, table_columns
from dagster_project.defs.raw.freshness import (
    CHECK_NAME,
    SENSOR_INTERVAL_SECONDS,
    build_freshness_sensor,
    freshness_specs,
)
from dagster_project.defs.resources import Foundation
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.quality.suites import load_suite
from tests.conftest import customers_csv, land, orders_csv


def _evaluate(settings, datasets, instance=None):
    """One tick of the freshness sensor (as the daemon runs it): its evaluations by dataset."""
    sensor = build_freshness_sensor(datasets)
    resources = {"foundation": Foundation.from_settings(settings)}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = sensor(context)
    for event in result.asset_events:
        if instance is not None:  # what the daemon does with a sensor's asset events
            instance.report_runless_asset_event(event)
    return {e.asset_key.path[-1]: e for e in result.asset_events}


def test_every_dataset_with_a_window_gets_a_check_and_an_hourly_sensor(registry):
    keys = {d.name for d in registry if freshness_specs(d)}
    assert keys == {d.name for d in registry if d.freshness_max_age_hours}
    sensor = build_freshness_sensor(registry)
    assert sensor.minimum_interval_seconds == SENSOR_INTERVAL_SECONDS == 3600
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_an_ingest_run_is_one_step_that_evaluates_freshness(settings, registry):
    from dagster_project.defs import raw

    land(settings, "customers/c.csv", customers_csv(1, 7))  # the orders suite reads raw.customers
    land(settings, "orders/a.csv", orders_csv(1, 4))
    resources = dg.Definitions(resources={"foundation": Foundation.from_settings(settings)})
    defs = dg.Definitions.merge(raw.defs(registry, settings), resources)
    job = defs.resolve_implicit_global_asset_job_def()
    job.execute_in_process(asset_selection=[dg.AssetKey(["raw", "customers"])])
    # What a landing sensor's run request selects: the raw asset (with its checks).
    result = job.execute_in_process(asset_selection=[dg.AssetKey(["raw", "orders"])])
    assert {e.step_key for e in result.all_events if e.step_key} == {"raw__orders"}
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == CHECK_NAME]
    assert evaluation.passed


def test_a_held_back_batch_does_not_fail_freshness_while_main_is_fresh(settings, registry, tmp_path):
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "raw.orders.json").write_text(
        json.dumps(
            {
                "name": "raw.orders",
                "expectations": [
                    {
                        "type": "expect_column_values_to_be_in_set",
                        "kwargs": {"column": "currency", "value_set": ["EUR"]},
                        "meta": {"action": "fail", "name": "currency_known"},
                    }
                ],
            }
        )
    )
    dataset = registry["orders"]
    asset = build_raw_asset(dataset, load_suite(dataset.table, table_columns(dataset), suites))
    resources = {"foundation": Foundation.from_settings(settings)}
    land(settings, "orders/a.csv", orders_csv(1, 4))
    with dg.instance_for_test() as instance:
        assert dg.materialize([asset], resources=resources, instance=instance).success
        land(settings, "orders/b.csv", orders_csv(5, 4).replace(",EUR,", ",JPY,"))
        held = dg.materialize([asset], resources=resources, instance=instance, raise_on_error=False)
        assert not held.success  # the blocking check failed: the batch waits on its audit branch
        by_name = {e.check_name: e for e in held.get_asset_check_evaluations()}
        assert not by_name["currency_known"].passed
        assert by_name[CHECK_NAME].passed  # main's newest file (a.csv) is minutes old
        key = dg.AssetCheckKey(dg.AssetKey(["raw", "orders"]), CHECK_NAME)
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        assert record.run_id == held.run_id
        assert record.event.dagster_event.event_specific_data.passed is True


def test_fails_when_the_newest_file_is_older_than_the_window(settings, registry):
    land(settings, "orders/a.csv", orders_csv(1, 4))
    dg.materialize(
        [build_raw_asset(registry["orders"])], resources={"foundation": Foundation.from_settings(settings)}
    )
    fresh = registry["orders"]  # 24 h window: the file was just committed
    # A window shorter than the time since the commit: the same data, overdue.
    stale = dataclasses.replace(registry["orders"], freshness_max_age_hours=1e-9)
    assert _evaluate(settings, [fresh])["orders"].passed
    with dg.instance_for_test() as instance:
        evaluation = _evaluate(settings, [stale], instance)["orders"]
        assert not evaluation.passed
        assert evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert "no new file for" in evaluation.description
        assert evaluation.metadata["last_files"].value[-1].endswith("orders/a.csv")
        # What the UI reads: the latest evaluation of the check on the asset.
        key = dg.AssetCheckKey(dg.AssetKey(["raw", "orders"]), CHECK_NAME)
        record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
        assert record.event.dagster_event.event_specific_data.passed is False


def test_only_commits_of_landed_files_refresh_the_dataset(settings, registry):
    land(settings, "orders/a.csv", orders_csv(1, 4))
    resources = {"foundation": Foundation.from_settings(settings)}
    asset = build_raw_asset(registry["orders"])
    dg.materialize([asset], resources=resources)
    before_id = open_catalog(settings).load_table("raw.orders").current_snapshot().snapshot_id
    before = _evaluate(settings, [registry["orders"]])["orders"].metadata["last_file_committed_at"].value
    dg.materialize([asset], resources=resources)  # nothing new: a materialization, but no file
    # A commit on main with no landed file (as table maintenance makes) is not new data either.
    table = open_catalog(settings).load_table("raw.orders")
    with table.transaction() as tx, tx.update_snapshot(snapshot_properties={"note": "x"}).fast_append():
        pass
    assert open_catalog(settings).load_table("raw.orders").current_snapshot().snapshot_id != before_id
    after = _evaluate(settings, [registry["orders"]])["orders"].metadata["last_file_committed_at"].value
    assert after == before


def test_a_dataset_that_never_received_a_file_fails_and_says_where_to_drop_one(settings, registry):
    evaluation = _evaluate(settings, [registry["customers"]])["customers"]
    assert not evaluation.passed
    assert "no file has landed yet" in evaluation.description and "customers/" in evaluation.description


def test_snapshot_expiry_keeps_the_time_the_newest_file_landed(settings, registry):
    from datetime import UTC, datetime, timedelta

    from dagster_project.defs.raw.freshness import last_file_committed
    from dagster_project.lakehouse.table_maintenance import expire_snapshots

    land(settings, "orders/a.csv", orders_csv(1, 4))
    dg.materialize(
        [build_raw_asset(registry["orders"])], resources={"foundation": Foundation.from_settings(settings)}
    )
    table = open_catalog(settings).load_table("raw.orders")
    landed_ms = table.current_snapshot().timestamp_ms
    for note in ("x", "y"):  # commits without landed files, e.g. compactions
        with table.transaction() as tx, tx.update_snapshot(snapshot_properties={"note": note}).fast_append():
            pass
    report = expire_snapshots(table, older_than=timedelta(0), keep_last=1, now=datetime.now(UTC))
    assert report.snapshots_expired >= 2
    table = open_catalog(settings).load_table("raw.orders")
    when, files = last_file_committed(table)
    assert when == datetime.fromtimestamp(landed_ms / 1000, tz=UTC)
    assert files[-1].endswith("orders/a.csv")


def test_a_checkpoint_above_newer_file_commits_does_not_hide_them(settings, registry):
    from datetime import UTC, datetime, timedelta

    from dagster_project.defs.raw.freshness import last_file_committed
    from dagster_project.lakehouse.table_maintenance import expire_snapshots

    resources = {"foundation": Foundation.from_settings(settings)}
    asset = build_raw_asset(registry["orders"])
    for i, name in enumerate(("a", "b", "c")):
        land(settings, f"orders/{name}.csv", orders_csv(1 + 10 * i, 4))
        dg.materialize(
            [asset],
            resources=resources,
            run_config={"ops": {"raw__orders": {"config": {"files": [f"orders/{name}.csv"]}}}},
        )
    table = open_catalog(settings).load_table("raw.orders")
    newest_ms = table.current_snapshot().timestamp_ms
    # Keep the 2 newest commits (b, c); a's identity moves to a checkpoint committed on top.
    expire_snapshots(table, older_than=timedelta(0), keep_last=2, now=datetime.now(UTC))
    table = open_catalog(settings).load_table("raw.orders")
    when, files = last_file_committed(table)
    assert when == datetime.fromtimestamp(newest_ms / 1000, tz=UTC)
    assert files[-1].endswith("orders/c.csv")
