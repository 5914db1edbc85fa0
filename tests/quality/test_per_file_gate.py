"""A batch of many landed files is judged per file: a failing file holds back itself, not the batch."""

import json
import logging

import dagster as dg
import pytest

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.held import held_batches, release
from dagster_project.lakehouse.ops_tables.handled_files import HELD, handled_index
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.quality.suites import load_suite
from dagster_project.registry import load_registry
from tests.conftest import customers_csv, land, materialize_raw, orders_csv

ORDERS = dg.AssetKey(["raw", "orders"])
CUSTOMERS = dg.AssetKey(["raw", "customers"])
FILES = ["orders/a.csv", "orders/b.csv", "orders/c.csv"]


def _ids(settings):
    table = open_catalog(settings).load_table("raw.orders")
    return sorted(
        table.scan(selected_fields=("order_id",)).to_arrow()["order_id"].to_pylist(),
        key=lambda i: -1 if i is None else i,
    )


def _landed(settings, b: str):
    land(settings, "orders/a.csv", orders_csv(1, 3))
    land(settings, "orders/b.csv", b)
    land(settings, "orders/c.csv", orders_csv(20, 3))


@pytest.fixture
def customers(settings):
    land(settings, "customers/c.csv", customers_csv(1, 7))
    assert materialize_raw(settings, CUSTOMERS).success


def test_a_file_with_a_null_order_id_is_held_alone_and_the_others_publish(settings, customers):
    _landed(settings, orders_csv(10, 3).replace("\n11,", "\n,"))  # order 11 has no id
    result = materialize_raw(settings, ORDERS, FILES)

    assert not result.success  # something was held: the run says so
    assert _ids(settings) == [1, 2, 3, 20, 21, 22]  # a.csv and c.csv are on main
    [materialized] = [e.materialization for e in result.get_asset_materialization_events()]
    md = {k: v.value for k, v in materialized.metadata.items()}
    assert md["quality_gate"] == "FILES HELD BACK" and md["files_ingested"] == 2
    assert "orders/b.csv" in md["held_back_files"] and "order_id_not_null" in md["held_back_files"]
    assert "12.5" in md["held_preview"] and "12.5" not in md["preview"]  # held rows apart from main's
    # What the held file failed, with counts and its failing rows, as for a batch held whole.
    assert md["failed_expectations"] == "- `order_id_not_null`: 1 unexpected (11.11% of the batch)"
    assert "**`order_id_not_null`**" in md["failing_rows"] and "1 unexpected, first 1" in md["failing_rows"]
    [failure] = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message
    branch = f"audit-{result.run_id}"
    assert "orders/b.csv" in message and branch in message and "release" in message
    assert "orders/a.csv" not in message

    table = open_catalog(settings).load_table("raw.orders")
    [held] = held_batches(table)  # the held file, on the run's audit branch, as a held batch
    assert held.branch == branch and [f[0].rsplit("/", 1)[-1] for f in held.files] == ["b.csv"]
    assert held.failed == ("order_id_not_null",)
    index = handled_index(open_catalog(settings), "orders", table)
    outcomes = {r["source_file"].rsplit("/", 1)[-1]: r["outcome"] for r in index.rows.to_pylist()}
    assert outcomes["b.csv"] == HELD and outcomes["a.csv"] != HELD

    # A rerun re-audits the held file only; the published ones are skipped.
    again = materialize_raw(settings, ORDERS, FILES)
    assert not again.success
    assert _ids(settings) == [1, 2, 3, 20, 21, 22]
    batches = held_batches(open_catalog(settings).load_table("raw.orders"))
    [held] = [h for h in batches if h.branch == f"audit-{again.run_id}"]
    assert [f[0].rsplit("/", 1)[-1] for f in held.files] == ["b.csv"]

    # Released after review: published once, and never ingested again.
    release(open_catalog(settings).load_table("raw.orders"), held.branch)
    assert _ids(settings) == [None, 1, 2, 3, 10, 12, 20, 21, 22]
    assert held_batches(open_catalog(settings).load_table("raw.orders")) == []  # the older hold too
    assert materialize_raw(settings, ORDERS, FILES).success
    assert _ids(settings) == [None, 1, 2, 3, 10, 12, 20, 21, 22]


def test_a_batch_of_one_failing_file_is_held_as_before(settings, customers):
    land(settings, "orders/b.csv", orders_csv(10, 3).replace("\n11,", "\n,"))
    result = materialize_raw(settings, ORDERS, ["orders/b.csv"])
    assert not result.success and not result.get_asset_materialization_events()
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "batch HELD BACK" in failure.step_failure_data.error.message


def _suite(settings, tmp_path, expectation: dict):
    folder = tmp_path / "suites"
    folder.mkdir()
    suite = {"name": "raw.orders", "expectations": [{**expectation, "meta": {"action": "fail"}}]}
    (folder / "raw.orders.json").write_text(json.dumps(suite))
    registry = load_registry(settings.sources_file)
    dataset = registry["orders"]
    types = {c.name: c.type for c in dataset.columns}
    return dataset, load_suite(dataset.table, types, folder)


def _held_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "held back" in r.getMessage()
    ]


def test_a_ratio_one_file_fails_alone_holds_that_file_only(settings, tmp_path, caplog):
    dataset, suite = _suite(
        settings,
        tmp_path,
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "status", "value_set": ["placed"], "mostly": 0.8},
        },
    )
    _landed(settings, orders_csv(10, 3).replace(",placed,", ",shipped,"))  # b.csv: 0% placed
    report = ingest_dataset(settings, dataset, run_id="r1", keys=FILES, suite=suite)
    assert sorted(f["file"] for f in report.ingested) == ["orders/a.csv", "orders/c.csv"]
    assert [f["file"] for f in report.held_back] == ["orders/b.csv"]
    assert report.held_back[0]["failed"] == "status_in_set"
    assert report.gate.branch == "audit-r1"
    # The log says what happened: the held file by name, and that the rest reached main.
    [warning] = _held_warnings(caplog)
    assert "main is unchanged" not in warning
    assert "orders/b.csv (failed status_in_set)" in warning and "audit-r1" in warning
    assert "other 2 file(s) of the batch published to main" in warning and "orders/a.csv" not in warning


def test_a_failure_spread_across_files_holds_the_whole_batch(settings, tmp_path, caplog):
    dataset, suite = _suite(
        settings,
        tmp_path,
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "order_id", "mostly": 0.5}},
    )
    for n, key in enumerate(FILES):  # the same ids in every file: each file alone is unique, together none is
        land(settings, key, orders_csv(1, 3).replace("1.50", f"1.5{n}"))
    report = ingest_dataset(settings, dataset, run_id="r1", keys=FILES, suite=suite)
    assert not report.ingested and report.gate.held_back
    assert sorted(f["file"] for f in report.held_back) == FILES
    [held] = held_batches(open_catalog(settings).load_table("raw.orders"))
    assert len(held.files) == 3
    [warning] = _held_warnings(caplog)
    assert "main is unchanged" in warning and "published" not in warning
