"""Materializing raw assets with real resources: metadata the UI shows."""

import dagster as dg

from dagster_project.defs.raw.assets import build_raw_asset
from dagster_project.defs.resources import Foundation
from tests.conftest import land, orders_csv


def test_materialization_metadata(settings, registry):
    land(settings, "orders/a.csv", orders_csv(1, 4))
    land(settings, "orders/bad.csv", "")
    asset = build_raw_asset(registry["orders"])
    result = dg.materialize([asset], resources={"foundation": Foundation.from_settings(settings)})
    assert result.success
    md = result.asset_materializations_for_node("raw__orders")[0].metadata
    assert md["dagster/row_count"].value == 4
    assert md["rows_ingested"].value == 4
    assert md["files_ingested"].value == 1
    assert md["files_quarantined"].value == 1
    assert md["bytes_ingested"].value > 0
    assert md["snapshot_id"].value.isdigit()
    assert md["dagster/uri"].value.endswith("raw/orders")
    columns = {c.name: c for c in md["dagster/column_schema"].schema.columns}
    assert columns["amount"].type == "decimal(12,2)" and "_source_file" in columns
    assert "bad.csv" in md["quarantined"].value and "empty" in md["quarantined"].value
    assert "| order_id |" in md["preview"].value


def test_pii_is_masked_in_the_preview_and_tagged_in_the_schema(settings, registry):
    land(
        settings,
        "customers/c.csv",
        "customer_id,first_name,last_name,email,phone,country,segment,signup_date\n"
        "1,Ada,Lovelace,ada@example.com,+44 20 7946 0001,GB,smb,2026-11-01\n",
    )
    asset = build_raw_asset(registry["customers"])
    result = dg.materialize([asset], resources={"foundation": Foundation.from_settings(settings)})
    md = result.asset_materializations_for_node("raw__customers")[0].metadata
    assert "ada@example.com" not in md["preview"].value and "Lovelace" not in md["preview"].value
    assert "GB" in md["preview"].value
    columns = {c.name: c for c in md["dagster/column_schema"].schema.columns}
    assert columns["email"].tags == {"pii": "email"}


def test_run_config_selects_files(settings, registry):
    land(settings, "orders/a.csv", orders_csv(1, 4))
    land(settings, "orders/b.csv", orders_csv(5, 4))
    asset = build_raw_asset(registry["orders"])
    result = dg.materialize(
        [asset],
        resources={"foundation": Foundation.from_settings(settings)},
        run_config={"ops": {"raw__orders": {"config": {"files": ["orders/b.csv"]}}}},
    )
    md = result.asset_materializations_for_node("raw__orders")[0].metadata
    assert md["rows_ingested"].value == 4 and "orders/b.csv" in md["files"].value


def test_a_column_added_by_drift_is_masked_in_the_preview(settings, registry):
    land(settings, "orders/a.csv", orders_csv(1, 2, extra_header="requester", extra_value="Zebedee Planted"))
    asset = build_raw_asset(registry["orders"])
    result = dg.materialize([asset], resources={"foundation": Foundation.from_settings(settings)})
    md = result.asset_materializations_for_node("raw__orders")[0].metadata
    assert "| requester |" in md["preview"].value and "Zebedee" not in md["preview"].value


def test_a_large_batch_lists_its_first_files_and_sums_the_rest():
    from dagster_project.defs.raw.metadata import FILES_LISTED, files_table

    files = [{"file": f"orders/{i:03d}.csv", "rows": 10, "bytes": 100} for i in range(FILES_LISTED + 30)]
    table = files_table(files)
    assert "orders/000.csv" in table and f"orders/{FILES_LISTED - 1:03d}.csv |" in table
    assert (
        f"| … and 30 more (orders/{FILES_LISTED:03d}.csv … orders/{FILES_LISTED + 29:03d}.csv) | 300 | 3000 |"
        in table
    )
    assert len(table.splitlines()) == 2 + FILES_LISTED + 1
