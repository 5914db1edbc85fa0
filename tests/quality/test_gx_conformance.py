"""Our compiled expectations give Great Expectations 1.x's own results, case by case.

Each case is a small batch (nulls, empty, `mostly`, strict bounds, mixed types, unicode, regex
features, zoned timestamps, suite parameters) and one expectation. GX evaluates it with its own
engine: pandas on the batch as our fallback hands it over (`types.to_pandas`), or, for the
expectations GX implements only in SQL (LIKE patterns, unexpected_rows_expectation, row counts of
another table), its SQL engine on SQLite with case-sensitive LIKE (as DuckDB's). Ours evaluates
the same batch in DuckDB; success, unexpected count, unexpected percent and observed value must
be equal. One GX context for the module; GX is imported once, inside the fixture.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb
import pyarrow as pa
import pytest
from sqlglot import exp

from dagster_project.quality.compile import Context
from dagster_project.quality.engine import batch_columns, compile_expectation, evaluate
from dagster_project.quality.suites import Expectation
from dagster_project.quality.types import to_pandas
from tests.quality.conformance_cases import CASES, SQL_ONLY, Case

NOW = datetime(2024, 6, 1, 12, 0, 0)
PARAMETERS = {"now": NOW, "freshness_floor": NOW - timedelta(days=30), "low": 2, "share": 0.5}


@pytest.fixture(scope="module")
def gx_context(tmp_path_factory):
    import great_expectations as gx
    import sqlalchemy
    from great_expectations.data_context.types.base import ProgressBarsConfig

    @sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "connect")
    def _case_sensitive_like(connection, _record):
        if isinstance(connection, sqlite3.Connection):
            connection.execute("PRAGMA case_sensitive_like = ON")  # DuckDB's LIKE is case-sensitive

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    pandas = context.data_sources.add_pandas("conformance").add_dataframe_asset("frame")
    sqlite_file = tmp_path_factory.mktemp("gx") / "batches.sqlite"
    sqlite_source = context.data_sources.add_sqlite("sqlite", connection_string=f"sqlite:///{sqlite_file}")
    yield {
        "gx": gx,
        "pandas": pandas.add_batch_definition_whole_dataframe("frame"),
        "sqlite": sqlite_source,
        "sqlite_file": sqlite_file,
    }
    sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", _case_sensitive_like)


def _arrow(case: Case) -> pa.Table:
    return pa.table({name: pa.array(values, type_) for name, (type_, values) in case.columns.items()})


def _gx_result(gx_context, case: Case, table: pa.Table, number: int):
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    kwargs = (
        {**case.kwargs, "other_table_name": f"t{number}_other"}
        if case.other_rows is not None
        else case.kwargs
    )
    expectation = ExpectationConfiguration(type=case.type, kwargs=kwargs).to_domain_obj()
    if case.type in SQL_ONLY:
        name = f"t{number}"
        with sqlite3.connect(gx_context["sqlite_file"]) as con:
            to_pandas(table).to_sql(name, con, index=False, if_exists="replace")
            if case.other_rows is not None:
                con.execute(f"DROP TABLE IF EXISTS {name}_other")
                con.execute(f"CREATE TABLE {name}_other (x INTEGER)")
                con.executemany(
                    f"INSERT INTO {name}_other VALUES (?)", [(i,) for i in range(case.other_rows)]
                )
        asset = gx_context["sqlite"].add_table_asset(name, table_name=name)
        batch = asset.add_batch_definition_whole_table(name).get_batch()
    else:
        batch = gx_context["pandas"].get_batch(batch_parameters={"dataframe": to_pandas(table)})
    return batch.validate(expectation, expectation_parameters=PARAMETERS, result_format="SUMMARY")


def _ours(case: Case, table: pa.Table):
    con = duckdb.connect()
    identity = table.append_column("filename", pa.array(["f"] * table.num_rows, pa.string()))
    identity = identity.append_column("file_row_number", pa.array(range(table.num_rows), pa.int64()))
    con.register("batch", identity)
    if case.other_rows is not None:
        rows = exp.select("*").from_(exp.func("range", exp.convert(case.other_rows)))
        con.execute(exp.Create(this=exp.to_table("raw__other"), kind="VIEW", expression=rows).sql("duckdb"))
    ctx = Context(con, "batch", batch_columns(con, "batch"), PARAMETERS)
    kwargs = {**case.kwargs, "other_table_name": "raw.other"} if case.other_rows is not None else case.kwargs
    compiled = compile_expectation(case.type, kwargs, ctx) is not None
    result = evaluate(
        con, [Expectation(0, case.type, kwargs)], relation="batch", parameters=PARAMETERS, pii_columns=set()
    )[0]
    return result, compiled


def _same(ours, theirs) -> bool:
    if isinstance(theirs, dict) and isinstance(ours, dict):
        return ours.keys() == theirs.keys() and all(_same(ours[k], theirs[k]) for k in ours)
    if isinstance(theirs, list | tuple) and isinstance(ours, list | tuple):
        return len(ours) == len(theirs) and all(_same(a, b) for a, b in zip(ours, theirs, strict=True))
    if hasattr(theirs, "to_pydatetime"):
        theirs = theirs.to_pydatetime()
    if hasattr(theirs, "item") and not isinstance(theirs, datetime):
        theirs = theirs.item()  # numpy scalar
    if isinstance(ours, datetime) and isinstance(theirs, datetime):
        if (ours.tzinfo is None) != (theirs.tzinfo is None):
            return False
        return ours == theirs
    if isinstance(ours, Decimal):
        ours = float(ours)
    if isinstance(ours, float) or isinstance(theirs, float):
        if ours is None or theirs is None:
            return ours is theirs or (theirs is not None and math.isnan(theirs) and ours is None)
        return math.isclose(float(ours), float(theirs), rel_tol=1e-9, abs_tol=1e-12)
    return ours == theirs


@pytest.mark.parametrize("case", CASES, ids=[f"{c.type}-{c.name}" for c in CASES])
def test_conforms_to_great_expectations(gx_context, case: Case):
    table = _arrow(case)
    theirs = _gx_result(gx_context, case, table, CASES.index(case))
    assert not (theirs.exception_info or {}).get("raised_exception"), theirs.exception_info
    ours, compiled = _ours(case, table)
    assert compiled and ours.engine == "duckdb", "compiled to DuckDB, not run through GX's engine"
    gx = theirs.result or {}
    assert ours.success == theirs.success
    if "unexpected_count" in gx and case.type != "unexpected_rows_expectation":
        got = (
            ours.unexpected_count
            if ours.unexpected_count is not None
            else ours.details.get("unexpected_count")
        )
        assert got == gx["unexpected_count"]
    if "unexpected_percent" in gx:
        assert _same(ours.unexpected_percent, gx["unexpected_percent"])
    if "missing_count" in gx and case.type.startswith("expect_column_distinct"):
        assert ours.details["missing_count"] == gx["missing_count"]
    assert _same(ours.observed_value, gx.get("observed_value")), (
        ours.observed_value,
        gx.get("observed_value"),
    )


def test_every_compiled_type_has_cases():
    from dagster_project.quality.aggregates import AGGREGATES
    from dagster_project.quality.compile import COMPILERS

    assert set(COMPILERS) | set(AGGREGATES) == {c.type for c in CASES}


def test_the_core_types_we_list_are_those_gx_registers(gx_context):
    from great_expectations.expectations.registry import _registered_expectations

    from dagster_project.quality.gx_core import GX_CORE

    core = {n for n, c in _registered_expectations.items() if c.__module__.startswith("great_expectations.")}
    assert GX_CORE == {n for n in core if n in GX_CORE} and GX_CORE >= {c.type for c in CASES}
    assert GX_CORE == {
        n
        for n, c in _registered_expectations.items()
        if c.__module__.startswith("great_expectations.expectations.core")
    }


def test_a_core_expectation_we_do_not_compile_runs_through_gx_and_masks_pii(gx_context):
    con = duckdb.connect()
    batch = pa.table(
        {
            "email": pa.array(["a@x.org", "not json", None], pa.string()),
            "filename": pa.array(["f"] * 3),
            "file_row_number": pa.array([0, 1, 2], pa.int64()),
        }
    )
    con.register("batch", batch)
    parseable = Expectation(0, "expect_column_values_to_be_json_parseable", {"column": "email"})
    unique = Expectation(1, "expect_column_values_to_be_unique", {"column": "email"})
    results = evaluate(
        con, [parseable, unique], relation="batch", parameters=PARAMETERS, pii_columns={"email"}
    )
    assert [r.engine for r in results] == ["great_expectations", "duckdb"]
    assert not results[0].success and results[0].unexpected_count == 2
    assert results[0].unexpected_percent == 100.0 and results[0].partial_unexpected_list == ["•••", "•••"]
    assert results[1].success
