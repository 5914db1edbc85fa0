"""Check results tell the truth: every expectation is evaluated, no run reports a pass it did not check."""

from __future__ import annotations

import json

import dagster as dg
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as Status

from dagster_project.catch_up import build_models, catch_up
from dagster_project.defs.raw.assets import build_raw_asset, table_columns
from dagster_project.defs.resources import Foundation
from dagster_project.quality.suites import load_suite
from tests.conftest import land, orders_csv, small_platform

pytestmark = pytest.mark.slow  # materializes the asset graph through curated, twice

COMPLETED = {
    Status.SUCCEEDED,
    Status.FAILED,
}


def _last_evaluation(instance: dg.DagsterInstance, key: dg.AssetCheckKey):
    """The check's last real evaluation: what the asset's health and the check's state show."""
    history = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
    completed = [r for r in history if r.status in COMPLETED]
    return completed[0] if completed else None


def test_a_run_with_no_new_batch_reports_no_pass_and_keeps_the_last_evaluation(settings, registry, tmp_path):
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
                        "meta": {"action": "warn", "name": "currency_known"},
                    }
                ],
            }
        )
    )
    dataset = registry["orders"]
    asset = build_raw_asset(dataset, load_suite(dataset.table, table_columns(dataset), suites))
    resources = {"foundation": Foundation.from_settings(settings)}
    key = dg.AssetCheckKey(dg.AssetKey(["raw", "orders"]), "currency_known")
    land(settings, "orders/a.csv", orders_csv(1, 4).replace(",EUR,", ",JPY,"))
    with dg.instance_for_test() as instance:
        first = dg.materialize([asset], resources=resources, instance=instance)
        [evaluation] = [e for e in first.get_asset_check_evaluations() if e.check_name == "currency_known"]
        assert not evaluation.passed  # a warning: the batch published, the check failed
        # Nothing new landed: the run evaluates nothing and says nothing about the check.
        second = dg.materialize([asset], resources=resources, instance=instance)
        assert second.success
        # (Only the freshness window, which reads main's data age, is evaluated on every run.)
        assert {e.check_name for e in second.get_asset_check_evaluations()} <= {
            "freshness_window",
            "no_held_batches",
        }  # both evaluated in every run
        last = _last_evaluation(instance, key)
        assert last.run_id == first.run_id
        assert last.status == Status.FAILED


def test_curated_expectations_on_other_tables_and_the_table_are_evaluated(tmp_path):
    settings, instance = small_platform(tmp_path, own_expectations=True)
    suite_path = settings.expectations_dir / "curated.customer_features.json"
    suite = json.loads(suite_path.read_text())
    suite["expectations"] += [
        {
            # Every customer of the fixture is 'smb' in raw.customers: every changed row is unexpected.
            "type": "unexpected_rows_expectation",
            "kwargs": {
                "unexpected_rows_query": "select * from {batch} where customer_id in "
                "(select customer_id from {raw.customers} where segment = 'smb')"
            },
            "meta": {"action": "fail", "name": "no_smb_customer"},
        },
        {
            "type": "expect_column_values_to_be_unique",
            "kwargs": {"column": "customer_id"},
            "meta": {"action": "fail", "name": "customer_unique_in_table", "against_table": True},
        },
    ]
    suite_path.write_text(json.dumps(suite))
    land(settings, "orders/o2.csv", orders_csv(21, 10))
    catch_up(settings, instance)
    success, models = build_models(settings, instance)
    assert not success
    by_table = {m.table: m for m in models}
    assert by_table["curated.customer_features"].gate == "HELD BACK"
    assert by_table["curated.customer_features"].failed_checks == ("no_smb_customer",)
    asset = dg.AssetKey(["curated", "customer_features"])
    failed = _last_evaluation(instance, dg.AssetCheckKey(asset, "no_smb_customer"))
    assert failed.status == Status.FAILED
    data = failed.event.dagster_event.event_specific_data
    assert data.metadata["unexpected_count"].value == 7  # the 7 customers of orders 21..30
    # Uniqueness against the table reads the table as committed on the branch: all 7 customers.
    unique = _last_evaluation(instance, dg.AssetCheckKey(asset, "customer_unique_in_table"))
    assert unique.status == Status.SUCCEEDED
    assert unique.event.dagster_event.event_specific_data.metadata["element_count"].value == 7

    # curated.orders published its 10 new rows in that build; the next one writes none of its rows:
    # no evaluation of its suite, no pass, and the check's state stays that of the real evaluation.
    orders_check = dg.AssetCheckKey(dg.AssetKey(["curated", "orders"]), "order_id_not_null")
    evaluated = _last_evaluation(instance, orders_check)
    assert evaluated.run_id == failed.run_id and evaluated.status == Status.SUCCEEDED
    build_models(settings, instance)
    assert _last_evaluation(instance, orders_check).run_id == evaluated.run_id
    latest = instance.event_log_storage.get_asset_check_execution_history(orders_check, limit=1)[0]
    assert latest.run_id != evaluated.run_id and latest.status == Status.PLANNED  # skipped: not run
