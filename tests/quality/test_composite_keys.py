"""A composite primary key through raw ingest and the gate: compound uniqueness with GX's own semantics."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from dagster_project.catch_up import catch_up
from dagster_project.defs.raw.checks import check_specs
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.quality.engine import evaluate
from dagster_project.quality.suites import Expectation
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
from tests.conftest import land

# Order 1 has lines 1 and 2 (order_id repeats, the pair is unique); (2, 1) is landed twice.
LINES = "order_id,line_no,sku,qty\n1,1,A,1\n1,2,B,2\n2,1,C,3\n2,1,C,4\n3,1,D,5\n"

REGISTRY = """\
version: 1
datasets:
  order_lines:
    description: One row per order line, keyed by order and line number.
    owner: team:commerce
    landing: {prefix: order_lines/, glob: "*.csv"}
    format: csv
    primary_key: [order_id, line_no]
    partition_column: null
    columns:
      order_id: {type: long, description: Order.}
      line_no: {type: int, description: Line within the order.}
      sku: {type: string, description: Product code.}
      qty: {type: int, description: Units.}
"""


def _suite(action: str, against_table: bool = False, not_null: bool = True) -> dict:
    key_parts = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "order_id"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "line_no"}},
    ]
    return {
        "name": "raw.order_lines",
        "expectations": [
            *(key_parts if not_null else []),
            {
                "type": "expect_compound_columns_to_be_unique",
                "kwargs": {"column_list": ["order_id", "line_no"]},
                "meta": {"action": action, "dimension": "uniqueness", "against_table": against_table},
            },
        ],
    }


def composite_platform(tmp_path: Path, suite: dict) -> tuple[Settings, object]:
    """A registry of one dataset with a composite key, and its suite, under tmp_path."""
    import dagster as dg

    (tmp_path / "sources.yml").write_text(REGISTRY)
    (tmp_path / "expectations").mkdir()
    (tmp_path / "expectations" / "raw.order_lines.json").write_text(json.dumps(suite))
    settings = Settings.for_data_dir(
        tmp_path / "data",
        sensor_min_file_age_seconds=0,
        sources_file=tmp_path / "sources.yml",
        expectations_dir=tmp_path / "expectations",
    )
    return settings, dg.DagsterInstance.ephemeral()


def _rows(settings: Settings) -> list[tuple]:
    table = open_catalog(settings).load_table("raw.order_lines")
    return sorted((r["order_id"], r["line_no"]) for r in table.scan().to_arrow().to_pylist())


def test_a_duplicate_pair_holds_the_batch_back_and_names_the_pair(tmp_path):
    settings, instance = composite_platform(tmp_path, _suite("fail", not_null=False))
    land(settings, "order_lines/l1.csv", LINES)
    [outcome] = catch_up(settings, instance)
    assert outcome.held_back and "`order_id_line_no_unique`: 2 unexpected" in outcome.failed_expectations
    # The check's failing-row sample shows the pair, as GX's multicolumn results do.
    import dagster as dg

    records = instance.get_records_for_run(
        outcome.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    [check] = [
        c
        for c in (r.event_log_entry.dagster_event.event_specific_data for r in records)
        if c.check_name == "order_id_line_no_unique"  # not no_held_batches, evaluated too
    ]
    metadata = check.metadata
    assert not check.passed and metadata["unexpected_count"].value == 2
    assert metadata["partial_unexpected_list"].value == ["order_id=2, line_no=1"] * 2
    assert _rows(settings) == []  # main untouched


def test_a_repeated_order_id_with_unique_pairs_passes(tmp_path):
    settings, instance = composite_platform(tmp_path, _suite("fail", against_table=True))
    land(settings, "order_lines/l1.csv", LINES.replace("2,1,C,4", "2,2,C,4"))
    [outcome] = catch_up(settings, instance)
    assert outcome.success and outcome.rows == 5
    assert _rows(settings) == [(1, 1), (1, 2), (2, 1), (2, 2), (3, 1)]
    # Against the table: a later file repeating a published pair is held back, a new pair is not.
    land(settings, "order_lines/l2.csv", "order_id,line_no,sku,qty\n3,1,D,9\n3,2,E,1\n")
    [outcome] = catch_up(settings, instance)
    assert outcome.held_back and "`order_id_line_no_unique`: 1 unexpected" in outcome.failed_expectations


def test_drop_sets_the_duplicated_pairs_apart_and_publishes_the_rest(tmp_path):
    settings, instance = composite_platform(tmp_path, _suite("drop"))
    land(settings, "order_lines/l1.csv", LINES)
    [outcome] = catch_up(settings, instance)
    assert outcome.success and outcome.dropped == 2
    assert _rows(settings) == [(1, 1), (1, 2), (3, 1)]
    dropped = read_quarantine(open_catalog(settings)).to_pylist()
    assert [r["column_name"] for r in dropped if r["dataset"] == "order_lines"] == ["order_id, line_no"] * 2


def test_the_raw_asset_has_one_check_per_key_expectation(tmp_path):
    import dagster as dg

    from dagster_project.quality.suites import load_suite

    settings, _ = composite_platform(tmp_path, _suite("fail"))
    dataset = load_registry(settings.sources_file)["order_lines"]
    assert dataset.primary_key == ("order_id", "line_no")
    suite = load_suite(dataset.table, {c.name: c.type for c in dataset.columns}, settings.expectations_dir)
    names = [s.name for s in check_specs(dg.AssetKey(["raw", "order_lines"]), suite)]
    assert names == ["order_id_not_null", "line_no_not_null", "order_id_line_no_unique"]


@pytest.mark.parametrize("ignore_row_if", ["all_values_are_missing", "any_value_is_missing", "never"])
def test_compound_uniqueness_gives_the_results_great_expectations_gives(ignore_row_if):
    import great_expectations as gx
    import great_expectations.expectations as gxe
    import pandas as pd

    a = [1, 1, 1, 2, 2, None, None, None, 4, None]
    b = [1, 2, 2, None, None, 7, 7, None, None, None]
    kwargs = {"column_list": ["a", "b"], "ignore_row_if": ignore_row_if}
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE batch AS SELECT a, b, 'f' AS filename, i AS file_row_number "
        "FROM (SELECT unnest(?) AS a, unnest(?) AS b, unnest(range(10)) AS i)",
        [a, b],
    )
    expectation = Expectation(0, "expect_compound_columns_to_be_unique", kwargs)
    [ours] = evaluate(con, [expectation], relation="batch", parameters={}, pii_columns={"b"})

    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_pandas("p")
        .add_dataframe_asset("t")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": pd.DataFrame({"a": a, "b": b}, dtype="Int64")})
    )
    theirs = batch.validate(gxe.ExpectCompoundColumnsToBeUnique(**kwargs)).result
    assert ours.success is False
    assert ours.unexpected_count == theirs["unexpected_count"]
    assert ours.unexpected_percent == pytest.approx(theirs["unexpected_percent"])
    assert ours.partial_unexpected_list[0] == {"a": 1, "b": "•••"}  # PII key parts stay masked
