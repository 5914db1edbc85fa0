"""Suites are checked against their table's declared column types when definitions load.

Before, a range on a text column loaded without complaint and failed every run with a DuckDB
error; each mismatch below is now refused at load, naming the suite file, the expectation, the
column with its type, and the fix.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from dagster_project.defs.deployment import build_defs
from dagster_project.defs.raw.assets import table_columns
from dagster_project.errors import FoundationError
from dagster_project.quality.engine import evaluate
from dagster_project.quality.suites import SuiteError, SuiteTypeError, load_suite, parse_suite
from dagster_project.settings import PROJECT_DIR

SUITES = PROJECT_DIR / "expectations"


def _suite_with(tmp_path: Path, expectation: dict) -> Path:
    """A copy of the shipped suites whose raw.orders suite gains one expectation (last, index 14+)."""
    folder = tmp_path / "expectations"
    shutil.copytree(SUITES, folder)
    path = folder / "raw.orders.json"
    document = json.loads(path.read_text())
    document["expectations"].append(expectation)
    path.write_text(json.dumps(document))
    return path


def _index(path: Path) -> int:
    return len(json.loads(path.read_text())["expectations"]) - 1


def _refused(registry, path: Path) -> str:
    with pytest.raises(SuiteTypeError) as error:
        parse_suite(path, table_columns(registry["orders"]), "raw.orders")
    return str(error.value)


def test_a_range_on_a_text_column_is_refused_when_definitions_load(settings, registry, tmp_path):
    range_on_text = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "currency", "min_value": 0, "max_value": 10},
        "meta": {"action": "fail"},
    }
    path = _suite_with(tmp_path, range_on_text)
    # What a user met before: the suite loaded, then every run failed inside DuckDB.
    suite = parse_suite(path, set(table_columns(registry["orders"])), "raw.orders")
    con = duckdb.connect()
    con.execute("CREATE TABLE batch AS SELECT 'EUR' AS currency, 'f' AS filename, 0 AS file_row_number")
    with pytest.raises(duckdb.Error):
        evaluate(con, [suite.expectations[-1]], relation="batch", parameters={}, pii_columns=set())
    # Now: refused when Dagster loads the definitions, in words that say what to change.
    with pytest.raises(SuiteTypeError) as error:
        build_defs(settings.__class__(**{**settings.__dict__, "expectations_dir": path.parent}))
    message = str(error.value)
    assert isinstance(error.value, FoundationError) and isinstance(error.value, SuiteError)
    assert str(path) in message
    assert f"expectations[{_index(path)}] (expect_column_values_to_be_between)" in message
    assert "column 'currency' of raw.orders is string (text)" in message
    assert "min_value=0" in message and "fix: check text with expect_column_values_to_be_in_set" in message


def test_a_regex_on_a_number_is_refused(registry, tmp_path):
    path = _suite_with(
        tmp_path,
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "amount", "regex": "^[0-9]+$"},
            "meta": {"action": "warn", "name": "amount_digits"},
        },
    )
    message = _refused(registry, path)
    assert "(expect_column_values_to_match_regex) named 'amount_digits'" in message
    assert "column 'amount' of raw.orders is decimal(12,2) (a number): a regex checks text" in message
    assert "fix: check numbers and dates with expect_column_values_to_be_between" in message


def test_a_set_of_strings_on_a_date_column_is_refused(registry, tmp_path):
    path = _suite_with(
        tmp_path,
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "ordered_at", "value_set": ["2026-11-01 10:00:00", "yesterday", "today"]},
        },
    )
    message = _refused(registry, path)
    assert "column 'ordered_at' of raw.orders is timestamp (a timestamp)" in message
    assert "value_set holds 2 value(s) that are not a timestamp ('yesterday', 'today')" in message
    assert "fix: write every value as a timestamp" in message


def test_a_set_of_words_on_a_number_column_is_refused(registry, tmp_path):
    path = _suite_with(
        tmp_path,
        {
            "type": "expect_column_values_to_not_be_in_set",
            "kwargs": {"column": "quantity", "value_set": ["none"]},
        },
    )
    assert "column 'quantity' of raw.orders is int (a whole number)" in _refused(registry, path)


def test_numbers_in_a_set_on_a_text_column_are_refused(registry, tmp_path):
    path = _suite_with(
        tmp_path,
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "status", "value_set": [1, 2]}},
    )
    assert "(quote numbers as strings)" in _refused(registry, path)


def test_a_date_bound_on_a_number_column_is_refused(registry, tmp_path):
    path = _suite_with(
        tmp_path,
        {
            "type": "expect_column_max_to_be_between",
            "kwargs": {"column": "order_id", "max_value": {"$PARAMETER": "now"}},
        },
    )
    message = _refused(registry, path)
    assert "column 'order_id' of raw.orders is long (a whole number)" in message
    assert "fix: write max_value as a whole number" in message


def test_a_type_expectation_that_never_matches_is_refused(registry, tmp_path):
    path = _suite_with(
        tmp_path,
        {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "quantity", "type_": "BIGINT"}},
    )
    assert "fix: set type_ to 'INTEGER'" in _refused(registry, path)


def test_a_column_that_does_not_exist_is_refused_in_a_compound_key_too(registry, tmp_path):
    path = _suite_with(
        tmp_path,
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["order_id", "line_no"]}},
    )
    with pytest.raises(SuiteError, match=r"column 'line_no' of column_list does not exist in raw.orders"):
        parse_suite(path, table_columns(registry["orders"]), "raw.orders")


def test_what_fits_its_type_loads(registry, tmp_path):
    path = _suite_with(
        tmp_path,
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "ordered_at", "min_value": "2020-01-01"},
            "meta": {"name": "ordered_after_2020"},
        },
    )
    suite = parse_suite(path, table_columns(registry["orders"]), "raw.orders")
    assert suite.expectations[-1].column == "ordered_at"
    # String bounds on text compare as text (a range of codes): no false alarm.
    fits = {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "currency", "min_value": "AAA"},
    }
    path = _suite_with(tmp_path / "again", fits)
    assert parse_suite(path, table_columns(registry["orders"]), "raw.orders")


def test_a_model_column_without_a_declared_type_is_not_checked(tmp_path):
    folder = tmp_path / "expectations"
    folder.mkdir()
    suite = {
        "name": "curated.things",
        "expectations": [
            {"type": "expect_column_values_to_be_between", "kwargs": {"column": "code", "min_value": 0}}
        ],
    }
    (folder / "curated.things.json").write_text(json.dumps(suite))
    assert load_suite("curated.things", {"code": None}, folder) is not None  # dbt YAML declared no data_type
    with pytest.raises(SuiteTypeError, match="column 'code' of curated.things is varchar"):
        load_suite("curated.things", {"code": "varchar"}, folder)


def test_every_shipped_suite_fits_its_columns_types(settings):
    build_defs(settings)  # raw, document and model suites, each checked against its declared types
