"""Quality gates on the real asset graph: held back, dropped, warned, rebased, retried."""

import json

import dagster as dg
import pytest

from dagster_project.defs.raw.assets import build_raw_assets
from dagster_project.defs.resources import Foundation
from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.lakehouse.wap import main_head
from dagster_project.quality.docs import render_data_docs
from dagster_project.registry import load_registry
from tests.conftest import ORDERS_HEADER, customers_csv, land, orders_csv

ORDERS = dg.AssetKey(["raw", "orders"])
CUSTOMERS = dg.AssetKey(["raw", "customers"])


@dg.asset(key=dg.AssetKey(["curated", "downstream_of_orders"]), deps=[ORDERS])
def downstream_of_orders() -> None:
    """Stands in for the dbt models that read raw.orders."""


def _run(settings, keys, files=None, extra=()):
    by_key = {
        a.key: a for a in build_raw_assets(load_registry(settings.sources_file), settings.expectations_dir)
    }
    assets = [by_key[k] for k in keys] + list(extra)
    config = {
        "ops": {f"raw__{k.path[1]}": {"config": {"files": files[k]}} for k in keys if files and k in files}
    }
    return dg.materialize(
        assets,
        resources={"foundation": Foundation.from_settings(settings)},
        run_config=config,
        raise_on_error=False,
        selection=[*keys, *(a.key for a in extra)],
    )


def _orders(settings):
    table = open_catalog(settings).load_table("raw.orders")
    return table, sorted(table.scan(selected_fields=("order_id",)).to_arrow()["order_id"].to_pylist())


@pytest.fixture
def with_customers(settings):
    land(settings, "customers/c.csv", customers_csv(1, 7))
    assert _run(settings, [CUSTOMERS]).success


def _checks(result, asset=ORDERS):
    return {e.check_name: e for e in result.get_asset_check_evaluations() if e.asset_key == asset}


def test_failing_batch_leaves_main_unchanged_keeps_the_branch_and_stops_downstream(settings, with_customers):
    land(settings, "orders/good.csv", orders_csv(1, 5))
    assert _run(settings, [ORDERS]).success
    table, before_ids = _orders(settings)
    before = main_head(table)
    bad = orders_csv(10, 4).replace("\n10,", "\n,").replace("12.50", "-12.50")
    land(settings, "orders/bad_batch.csv", bad)
    result = _run(settings, [ORDERS], files={ORDERS: ["orders/bad_batch.csv"]}, extra=[downstream_of_orders])

    assert not result.success
    checks = _checks(result)
    assert not checks["order_id_not_null"].passed and checks["order_id_not_null"].severity.value == "ERROR"
    assert not checks["amount_between"].passed
    assert checks["status_in_set"].passed
    metadata = checks["order_id_not_null"].metadata
    assert metadata["unexpected_count"].value == 1 and metadata["unexpected_percent"].value == 25.0
    assert metadata["suite"].value == "expectations/raw.orders.json"
    assert (
        metadata["data_docs"].value == f"{settings.docs_base_url}/data_docs/raw.orders/{result.run_id}.html"
    )
    page = settings.data_docs_dir / "raw.orders" / f"{result.run_id}.html"
    assert render_data_docs(page) and "order_id" in page.read_text()  # as the docs server does on request

    materialized = {
        m.asset_key for m in result.get_asset_materialization_events() for m in [m.materialization]
    }
    assert downstream_of_orders.key not in materialized  # blocking check stops downstream
    table, after_ids = _orders(settings)
    assert main_head(table) == before and after_ids == before_ids
    branches = [r for r in table.metadata.refs if r.startswith("audit-")]
    assert branches == [f"audit-{result.run_id}"]
    held = table.scan(snapshot_id=table.metadata.refs[branches[0]].snapshot_id).to_arrow()
    assert held.num_rows == 9  # main's 5 plus the held-back 4, readable on the branch


def test_drop_publishes_the_good_rows_and_quarantines_the_rest_with_reasons(settings, with_customers):
    rows = orders_csv(1, 6).splitlines()
    rows[2] = rows[2].replace(",placed,", ",,")  # order 2 has no status
    land(settings, "orders/a.csv", "\n".join(rows) + "\n")
    result = _run(settings, [ORDERS], extra=[downstream_of_orders])
    assert result.success
    _, ids = _orders(settings)
    assert ids == [1, 3, 4, 5, 6]
    check = _checks(result)["status_not_null"]
    assert not check.passed and check.severity.value == "WARN" and check.metadata["rows_dropped"].value == 1
    quarantine = [r for r in read_quarantine(open_catalog(settings)).to_pylist() if r["row_data"]]
    assert len(quarantine) == 1 and quarantine[0]["reason"] == "expectation:status_not_null"
    assert json.loads(quarantine[0]["row_data"])["order_id"] == 2
    assert quarantine[0]["source_file"].endswith("orders/a.csv")
    assert downstream_of_orders.key in {
        m.materialization.asset_key for m in result.get_asset_materialization_events()
    }


def test_warn_publishes_and_records(settings, with_customers):
    land(settings, "orders/a.csv", orders_csv(1, 3).replace(",EUR,", ",CHF,"))
    result = _run(settings, [ORDERS])
    assert result.success
    check = _checks(result)["currency_in_set"]
    assert not check.passed and check.severity.value == "WARN"
    assert check.metadata["partial_unexpected_list"].value == ["CHF", "CHF", "CHF"]
    assert _orders(settings)[1] == [1, 2, 3]


def test_pii_values_are_masked_in_check_results(settings):
    land(settings, "customers/c.csv", customers_csv(1, 3).replace("ada2@example.com", "not-an-email"))
    result = _run(settings, [CUSTOMERS])
    check = _checks(result, CUSTOMERS)["email_match_regex"]
    assert not check.passed
    assert "not-an-email" not in json.dumps(check.metadata["partial_unexpected_list"].value)


def test_main_moving_during_the_audit_keeps_both_commits(settings, registry, with_customers, monkeypatch):
    import dagster_project.ingest.engine as run_module

    land(settings, "orders/ours.csv", orders_csv(1, 3))
    land(settings, "orders/theirs.csv", orders_csv(20, 2))
    real = run_module.write_audit_publish

    def with_a_concurrent_commit(*args, **kwargs):
        def someone_commits():
            if not done:
                done.append(
                    ingest_dataset(settings, registry["orders"], run_id="other", keys=["orders/theirs.csv"])
                )

        return real(*args, before_publish=someone_commits, **kwargs)

    done = []
    monkeypatch.setattr(run_module, "write_audit_publish", with_a_concurrent_commit)
    result = _run(settings, [ORDERS], files={ORDERS: ["orders/ours.csv"]})
    assert result.success and done[0].rows == 2
    _, ids = _orders(settings)
    assert ids == [1, 2, 3, 20, 21]


def test_a_retried_run_after_a_failed_gate_does_not_duplicate(settings):
    land(settings, "orders/a.csv", orders_csv(1, 4))  # customers 1..7 do not exist yet
    first = _run(settings, [ORDERS])
    assert not first.success and not _checks(first)["customer_exists"].passed
    land(settings, "customers/c.csv", customers_csv(1, 7))
    assert _run(settings, [CUSTOMERS]).success
    for _ in range(2):  # the retry publishes; a second retry finds it on main
        assert _run(settings, [ORDERS], files={ORDERS: ["orders/a.csv"]}).success
    assert _orders(settings)[1] == [1, 2, 3, 4]


def test_header_only_order_file_still_quarantined_not_gated(settings, with_customers):
    land(settings, "orders/h.csv", ORDERS_HEADER + "\n")
    result = _run(settings, [ORDERS])
    assert result.success
    checks = _checks(result)
    # Freshness tells the truth: a quarantined header-only file is no landed data.
    freshness = checks.pop("freshness_window")
    assert not freshness.passed and "no file has landed yet" in freshness.description
    assert checks and all(c.passed for c in checks.values())
