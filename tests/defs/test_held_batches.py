"""A held batch you can act on: a failed run, the held rows in the UI, a check that keeps it in sight,
and release / discard jobs that do what the CLI does, audited."""

import json

import dagster as dg
import pytest

from dagster_project.cli import main as cli_main
from dagster_project.defs.held import DISCARD_JOB, HELD_CHECK, RELEASE_JOB, build_held_jobs
from dagster_project.defs.raw.assets import build_raw_assets
from dagster_project.defs.resources import Foundation
from dagster_project.lakehouse.ops_tables.audit import read_audit_log
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.registry import load_registry
from tests.conftest import customers_csv, land, materialize_raw, orders_csv

ORDERS = dg.AssetKey(["raw", "orders"])
CUSTOMERS = dg.AssetKey(["raw", "customers"])
# Order 10 has no id and order 11 a negative amount: two blocking expectations fail.
BAD = orders_csv(10, 4).replace("\n10,", "\n,").replace("11.50", "-11.50")


def _job(settings, name, table, branch):
    jobs = {j.name: j for j in build_held_jobs({"raw.orders", "raw.customers"})}
    return jobs[name].execute_in_process(
        run_config={"ops": {name.split("_")[0] + "_batch": {"config": {"table": table, "branch": branch}}}},
        resources={"foundation": Foundation.from_settings(settings)},
        raise_on_error=False,
    )


def _observation(result, key=ORDERS):
    """The held attempt's metadata: on an observation of the asset, since nothing was materialized."""
    [o] = [e.asset_observation_data.asset_observation for e in result.all_events if e.is_asset_observation]
    assert o.asset_key == key
    return {k: v.value for k, v in o.metadata.items()}


def _held_check(result, key=ORDERS):
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == HELD_CHECK]
    assert check.asset_key == key
    return check


def _order_ids(settings):
    table = open_catalog(settings).load_table("raw.orders")
    ids = table.scan(selected_fields=("order_id",)).to_arrow()["order_id"].to_pylist()
    return sorted(ids, key=lambda i: -1 if i is None else i)


@pytest.fixture
def held(settings):
    """main has orders 1..5 and a bad batch of orders 10..13 is held; returns its run's result."""
    land(settings, "customers/c.csv", customers_csv(1, 7))
    assert materialize_raw(settings, CUSTOMERS).success
    land(settings, "orders/good.csv", orders_csv(1, 5))
    first = materialize_raw(settings, ORDERS)
    assert first.success and _held_check(first).passed
    land(settings, "orders/bad_batch.csv", BAD)
    return materialize_raw(settings, ORDERS, files=["orders/bad_batch.csv"])


def test_a_held_batch_fails_its_run_and_shows_the_held_rows(settings, held):
    branch = f"audit-{held.run_id}"
    assert not held.success
    [failure] = [e for e in held.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    assert branch in message and "HELD BACK" in message
    assert "order_id_not_null" in message and "amount_between" in message
    assert RELEASE_JOB in message and DISCARD_JOB in message

    assert not [e for e in held.all_events if e.is_step_materialization]  # main did not change
    md = _observation(held)
    assert md["quality_gate"] == "HELD BACK" and md["rows_held"] == 4
    assert "rows_ingested" not in md  # not "0 rows ingested", as if the file were empty
    assert md["audit_branch"] == branch
    preview = md["preview"]
    assert branch in preview and "11.5" in preview and "13.5" in preview  # the held rows
    assert not any(line.startswith(f"| {i} |") for line in preview.splitlines() for i in range(1, 6))
    failing = md["failing_rows"]
    not_null, between = failing.split("**`amount_between`**")
    assert "order_id_not_null" in not_null and "12.5" not in not_null
    assert "-11.5" in between and "12.5" not in between

    check = _held_check(held)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["branches"].value == [branch]
    assert "bad_batch.csv" in check.metadata["held"].value


def test_the_held_attempt_is_recorded_as_failed_not_as_a_materialization(settings):
    """What the UI reads: the asset's latest materialization is still the good batch, its latest run
    (the held attempt) failed, and the held batch's metadata is on the asset's latest event."""
    instance = dg.DagsterInstance.ephemeral()
    assets = build_raw_assets(load_registry(settings.sources_file), settings.expectations_dir)
    resources = {"foundation": Foundation.from_settings(settings)}
    land(settings, "customers/c.csv", customers_csv(1, 7))
    dg.materialize(assets, resources=resources, instance=instance, selection=[CUSTOMERS])
    land(settings, "orders/good.csv", orders_csv(1, 5))
    good = dg.materialize(assets, resources=resources, instance=instance, selection=[ORDERS])
    land(settings, "orders/bad_batch.csv", BAD)
    held = dg.materialize(
        assets, resources=resources, instance=instance, selection=[ORDERS], raise_on_error=False
    )

    [record] = instance.get_asset_records([ORDERS])
    entry = record.asset_entry
    assert entry.last_materialization.run_id == good.run_id
    assert entry.last_materialization.asset_materialization.metadata["quality_gate"].text == "passed"
    assert entry.last_run_id == held.run_id
    assert instance.get_run_by_id(held.run_id).status == dg.DagsterRunStatus.FAILURE
    [observed] = instance.fetch_observations(ORDERS, limit=1).records
    held_event = observed.event_log_entry
    assert held_event.run_id == held.run_id
    metadata = held_event.asset_observation.metadata
    assert metadata["quality_gate"].text == "HELD BACK" and metadata["rows_held"].value == 4
    # What was held comes first; nothing reads like an empty file (main's counters are left out).
    assert list(metadata)[:3] == ["quality_gate", "rows_held", "audit_branch"]
    assert not {"rows_ingested", "files_ingested", "bytes_ingested", "dagster/row_count"} & set(metadata)
    assert f"audit-{held.run_id}" in metadata["preview"].value
    checks = {e.check_name: e for e in held.get_asset_check_evaluations()}
    assert not checks["order_id_not_null"].passed and not checks[HELD_CHECK].passed


def test_personal_data_in_failing_rows_is_masked(settings):
    land(settings, "customers/c.csv", customers_csv(1, 3).replace("ada2@example.com", "not-an-email"))
    result = materialize_raw(settings, CUSTOMERS)
    assert not result.success
    md = _observation(result, CUSTOMERS)
    assert "email_match_regex" in md["failing_rows"] and "•••" in md["failing_rows"]
    shown = json.dumps([v for v in md.values() if isinstance(v, str | int | float)])
    assert "not-an-email" not in shown and "Ada2" not in shown


def test_a_later_good_file_does_not_hide_the_held_batch_and_release_publishes_it(settings, held):
    branch = f"audit-{held.run_id}"
    land(settings, "orders/later.csv", orders_csv(20, 2))
    later = materialize_raw(settings, ORDERS, files=["orders/later.csv"])
    assert later.success and _order_ids(settings) == [1, 2, 3, 4, 5, 20, 21]
    check = _held_check(later)
    assert not check.passed and check.metadata["branches"].value == [branch]

    released = _job(settings, RELEASE_JOB, "raw.orders", branch)
    assert released.success
    assert _order_ids(settings) == [None, 1, 2, 3, 4, 5, 11, 12, 13, 20, 21]
    assert _held_check(released).passed
    [m] = released.get_asset_materialization_events()
    assert m.asset_key == ORDERS and m.materialization.metadata["rows_released"].value == 4
    audit = [
        r
        for r in read_audit_log(open_catalog(settings)).to_pylist()
        if r["action"] == "publish" and branch in r["statement"]
    ]
    assert len(audit) == 1 and f"run {released.run_id}" in audit[0]["message"]

    again = _job(settings, RELEASE_JOB, "raw.orders", branch)
    assert not again.success  # released once; the job says there is nothing held on that branch


def test_discard_job_drops_the_batch_audited_and_the_check_passes(settings, held):
    branch = f"audit-{held.run_id}"
    discarded = _job(settings, DISCARD_JOB, "raw.orders", branch)
    assert discarded.success
    assert _order_ids(settings) == [1, 2, 3, 4, 5]
    assert _held_check(discarded).passed
    assert branch not in open_catalog(settings).load_table("raw.orders").metadata.refs
    audit = [r for r in read_audit_log(open_catalog(settings)).to_pylist() if r["action"] == "discard"]
    assert len(audit) == 1 and branch in audit[0]["statement"]


def test_the_cli_discards_the_same_way(settings, held, monkeypatch, capsys):
    branch = f"audit-{held.run_id}"
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    assert cli_main(["discard", "raw.orders", branch]) == 0
    assert "discarded" in capsys.readouterr().out
    audit = [r for r in read_audit_log(open_catalog(settings)).to_pylist() if r["action"] == "discard"]
    assert len(audit) == 1 and audit[0]["message"] == "discarded after review (via cli)"
    assert cli_main(["discard", "raw.orders", branch]) == 2
