"""Suites are reviewed GX 1.x JSON; a broken one fails when definitions load, naming file and expectation."""

import json
import shutil
from pathlib import Path

import pytest

from dagster_project.defs.deployment import build_defs
from dagster_project.quality.suites import SuiteError
from dagster_project.registry import load_registry
from dagster_project.settings import PROJECT_DIR

SUITES = PROJECT_DIR / "expectations"


def test_every_registry_dataset_has_a_suite_that_great_expectations_accepts(registry):
    import great_expectations as gx

    for dataset in registry:
        path = SUITES / f"{dataset.table}.json"
        document = json.loads(path.read_text())
        suite = gx.ExpectationSuite(**document)  # GX's own models validate every type and kwargs
        assert suite.name == dataset.table and len(suite.expectations) >= 8
        dimensions = {e["meta"].get("dimension") for e in document["expectations"]}
        assert {"completeness", "uniqueness", "validity", "timeliness"} <= dimensions
    orders = json.loads((SUITES / "raw.orders.json").read_text())
    assert "consistency" in {e["meta"].get("dimension") for e in orders["expectations"]}


def _defs_with(settings, tmp_path: Path, change):
    folder = tmp_path / "expectations"
    shutil.copytree(SUITES, folder)
    path = folder / "raw.orders.json"
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    return lambda: build_defs(settings.__class__(**{**settings.__dict__, "expectations_dir": folder})), path


def _set(index, **changes):
    def change(document):
        document["expectations"][index].update(changes)

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            _set(1, type="expect_column_values_to_be_purple"),
            "expectations[1] (expect_column_values_to_be_purple): unknown or unsupported expectation type",
        ),
        (_set(1, kwargs={"column": "order_nr"}), "column 'order_nr' does not exist in raw.orders"),
        (_set(1, kwargs={}), "missing kwargs: column"),
        (_set(1, meta={"action": "explode"}), "meta.action must be one of fail, warn, drop"),
        (_set(0, meta={"action": "drop"}), "'drop' needs a row-level expectation"),
        (
            _set(7, kwargs={"column": "amount", "min_value": {"$PARAMETER": "tomorrow"}}),
            "unknown suite parameter 'tomorrow'",
        ),
    ],
)
def test_broken_suite_fails_at_definitions_load_naming_file_and_expectation(
    settings, tmp_path, change, message
):
    load, path = _defs_with(settings, tmp_path, change)
    with pytest.raises(SuiteError) as error:
        load()
    assert str(path) in str(error.value) and message in str(error.value)


def test_not_json_and_wrong_name(settings, tmp_path):
    folder = tmp_path / "expectations"
    folder.mkdir()
    (folder / "raw.orders.json").write_text("{not json")
    with pytest.raises(SuiteError, match="raw.orders.json: not valid JSON"):
        build_defs(settings.__class__(**{**settings.__dict__, "expectations_dir": folder}))
    (folder / "raw.orders.json").write_text(json.dumps({"name": "raw.order", "expectations": []}))
    with pytest.raises(SuiteError, match="must be the table name 'raw.orders'"):
        build_defs(settings.__class__(**{**settings.__dict__, "expectations_dir": folder}))


def test_check_specs_follow_the_suite(settings):
    import dagster as dg

    defs = build_defs(settings)
    specs = {s.name: s for s in defs.resolve_assets_def(dg.AssetKey(["raw", "orders"])).check_specs}
    suite = json.loads((SUITES / "raw.orders.json").read_text())
    # One check per expectation, plus the two every gated raw asset carries.
    assert len(specs) == len(suite["expectations"]) + 2
    assert {"freshness_window", "no_held_batches"} <= set(specs)
    assert specs["no_held_batches"].blocking is False
    assert specs["order_id_not_null"].blocking and not specs["quantity_between"].blocking
    assert specs["customer_exists"].metadata["suite"] == "expectations/raw.orders.json"
    assert len(load_registry(settings.sources_file).datasets) == 4
