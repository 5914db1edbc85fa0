"""Aggregate and table expectations compiled to DuckDB SQL (sqlglot), judged as GX 1.x judges them.

The SQL computes the metric GX computes (over non-null values, as GX's column aggregate metrics
do); the judgement then runs in Python exactly as GX's `_validate` does, so bounds, strictness,
tolerance and datetime parsing behave the same.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp

from dagster_project.quality.compile import (
    IDENTITY,
    Context,
    Outcome,
    Plan,
    count_star,
    ident,
    not_null,
    relation,
)
from dagster_project.quality.types import column_type_plan
from dagster_project.quality.values import as_datetime

_TABLE_REFERENCE = re.compile(r"\{((?:raw|staging|curated|ops)\.[a-z][a-z0-9_]*)\}")


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def between(observed: Any, k: dict[str, Any]) -> Outcome:
    """GX's `_validate_metric_value_between`."""
    observed = _plain(observed)
    if observed is None or (isinstance(observed, float) and math.isnan(observed)):
        return Outcome(False, None)
    low, high = k.get("min_value"), k.get("max_value")
    if isinstance(observed, datetime):
        low, high = as_datetime(low), as_datetime(high)
    if isinstance(low, date) or isinstance(high, date):
        if not isinstance(observed, date):
            observed = as_datetime(observed)
    above = low is None or (observed > low if k.get("strict_min") else observed >= low)
    below = high is None or (observed < high if k.get("strict_max") else observed <= high)
    return Outcome(bool(above and below), observed)


def _metric(fn: str, default: Any = None):
    def build(k: dict, ctx: Context) -> Plan:
        value = exp.func(fn, ident(k["column"]))
        if fn == "sum":
            value = exp.func("coalesce", value, 0)  # pandas: the sum of nothing is 0
        return Plan([value], lambda v, _total: between(v[0], k))

    return build


def _quantiles(k: dict, ctx: Context) -> Plan | None:
    if k.get("allow_relative_error") not in (None, False, "nearest"):
        return None  # another interpolation: GX's engine computes it
    name = k["column"]
    quantiles = list(k["quantile_ranges"]["quantiles"])
    ranges = list(k["quantile_ranges"]["value_ranges"])
    # pandas' "nearest" interpolation: the value at index round-half-even(q * (n - 1)), sorted.
    ranked = exp.select(
        ident(name).as_("v"),
        exp.Window(
            this=exp.func("row_number"), order=exp.Order(expressions=[exp.Ordered(this=ident(name))])
        ).as_("i"),
        exp.Window(this=count_star()).as_("n"),
    )
    ranked = ranked.from_(ctx.table()).where(not_null(name))
    selects: list[exp.Expression] = []
    for q in quantiles:
        index = exp.func("round_even", exp.convert(float(q)) * (exp.column("n") - 1), 0) + 1
        pick = exp.select("v").from_(ranked.subquery("r")).where(exp.column("i").eq(index))
        selects.append(exp.Subquery(this=pick))

    def finish(values: list[Any], _total: int) -> Outcome:
        observed = [_plain(v) for v in values]
        details = []
        for value, (low, high) in zip(observed, ranges, strict=False):
            low = -math.inf if low is None else low
            high = math.inf if high is None else high
            details.append(
                value is not None
                and (
                    math.isclose(value, low, rel_tol=1e-4)
                    or math.isclose(value, high, rel_tol=1e-4)
                    or low <= value <= high
                )
            )
        return Outcome(
            all(details),
            {"quantiles": quantiles, "values": observed},
            details={"success_details": details},
        )

    return Plan(selects, finish)


def _distinct(k: dict, ctx: Context, mode: str) -> Plan:
    from dagster_project.quality.values import literals

    name = k["column"]
    c = ident(name)
    value_set = list(k.get("value_set") or [])
    members = literals(value_set, ctx.column(name))
    listed = exp.Array(expressions=members) if members else exp.cast(exp.Array(), "VARCHAR[]")
    # Values of the column outside the set, and members of the set absent from the column.
    outside = exp.Filter(
        this=exp.Count(this=exp.Distinct(expressions=[c])),
        expression=exp.Where(this=exp.Not(this=exp.paren(c.isin(*members))) if members else not_null(name)),
    )
    present = exp.func("coalesce", exp.func("list", exp.Distinct(expressions=[c])), exp.Array())
    absent = exp.func(
        "len",
        exp.func(
            "list_filter",
            listed,
            exp.Lambda(
                this=exp.Not(this=exp.func("list_contains", present, exp.column("x"))),
                expressions=[exp.to_identifier("x")],
            ),
        ),
    )
    unmatched = len(value_set) - len(members)  # members the column cannot hold are never present

    def finish(values: list[Any], _total: int) -> Outcome:
        unexpected, missing = int(values[0] or 0), int(values[1] or 0) + unmatched
        if mode == "in":
            return Outcome(unexpected == 0, None, details={"unexpected_count": unexpected})
        if mode == "contain":
            return Outcome(missing == 0, None, details={"missing_count": missing})
        return Outcome(
            unexpected == 0 and missing == 0,
            None,
            details={"unexpected_count": unexpected, "missing_count": missing},
        )

    return Plan([outside, absent], finish)


def _unique_count(k: dict, ctx: Context, proportion: bool) -> Plan:
    c = ident(k["column"])
    distinct = exp.Count(this=exp.Distinct(expressions=[c]))

    def finish(values: list[Any], _total: int) -> Outcome:
        count, nonnull = int(values[0]), int(values[1])
        observed = (count / nonnull if nonnull else 0) if proportion else count
        return between(observed, k)

    return Plan([distinct, exp.Count(this=c)], finish)


def _most_common(k: dict, ctx: Context) -> Plan:
    name = k["column"]
    c = ident(name)
    counts = exp.select(
        c.as_("v"), count_star().as_("n"), exp.Window(this=exp.func("max", count_star())).as_("m")
    )
    counts = counts.from_(ctx.table()).where(not_null(name)).group_by(c)
    modes = exp.select(exp.func("list_sort", exp.func("list", exp.column("v"))))  # pandas: sorted
    modes = modes.from_(counts.subquery("c")).where(exp.column("n").eq(exp.column("m")))
    wanted = set(k.get("value_set") or [])

    def finish(values: list[Any], _total: int) -> Outcome:
        observed = [_plain(v) for v in values[0] or []]
        hits = len(wanted.intersection(observed))
        ok = hits > 0 if k.get("ties_okay") else len(observed) == 1 and hits == 1
        return Outcome(ok, observed)

    return Plan([exp.Subquery(this=modes)], finish)


def _row_count(k: dict, ctx: Context, equal: bool) -> Plan:
    if equal:
        return Plan([], lambda _v, total: Outcome(total == k["value"], total))
    return Plan([], lambda _v, total: between(total, k))


def _other_table(k: dict, ctx: Context) -> Plan:
    from dagster_project.quality.compile import relation, view_name

    other = exp.select(count_star()).from_(relation(view_name(k["other_table_name"])))

    def finish(values: list[Any], total: int) -> Outcome:
        return Outcome(total == values[0], {"self": total, "other": int(values[0])})

    return Plan([exp.Subquery(this=other)], finish)


def _columns(k: dict, ctx: Context, kind: str) -> Plan:
    names = list(ctx.columns)

    def finish(_v: list[Any], _total: int) -> Outcome:
        if kind == "count_between":
            return between(len(names), k)
        if kind == "count_equal":
            return Outcome(len(names) == k["value"], len(names))
        if kind == "exist":
            index = k.get("column_index")
            if index:  # GX reads index 0 as "anywhere"
                return Outcome(index < len(names) and names[index] == k["column"])
            return Outcome(k["column"] in names)
        if kind == "ordered":
            expected = k.get("column_list")
            return Outcome(expected is None or names == list(expected), names)
        expected = set(k.get("column_set") or [])
        unexpected, missing = set(names) - expected, expected - set(names)
        exact = k.get("exact_match", True)
        ok = not missing and (not unexpected or exact is False)
        if k.get("column_set") is None and exact is not True:
            ok = True
        return Outcome(ok, sorted(names))

    return Plan([], finish)


def unexpected_rows_view(ctx: Context, query: str) -> str:
    """The user's `unexpected_rows_query` as a temp view; `{batch}` and `{raw.name}` name our relations."""
    from dagster_project.quality.compile import table_view

    text = query.replace("{batch}", ctx.table().sql("duckdb"))
    for table in _TABLE_REFERENCE.findall(query):
        text = text.replace("{" + table + "}", table_view(table))
    name = f"__unexpected_rows_{abs(hash((ctx.relation, text)))}"
    ctx.con.sql(text).create_view(name, replace=True)
    return name


def _unexpected_rows(k: dict, ctx: Context) -> Plan:
    view = unexpected_rows_view(ctx, k["unexpected_rows_query"])
    found = relation(view)
    selects: list[exp.Expression] = [exp.Subquery(this=exp.select(count_star()).from_(found))]
    unexpected = None
    if set(IDENTITY) <= set(ctx.con.table(view).columns):
        # The query returned batch rows: those rows are the ones it rejects (and `drop` removes).
        identity = [ident(i) for i in IDENTITY]
        unexpected = exp.Tuple(expressions=identity).isin(query=exp.select(*identity).from_(found).subquery())
        selects.append(count_star(unexpected))

    def finish(values: list[Any], total: int) -> Outcome:
        rows = int(values[0])
        outcome = Outcome(rows == 0, rows)
        if unexpected is not None:
            outcome.unexpected_count = int(values[1])
            outcome.unexpected_percent = outcome.unexpected_count / total * 100 if total else None
        return outcome

    return Plan(selects, finish, unexpected=unexpected)


AGGREGATES = {
    "expect_column_min_to_be_between": _metric("min"),
    "expect_column_max_to_be_between": _metric("max"),
    "expect_column_mean_to_be_between": _metric("avg"),
    "expect_column_median_to_be_between": _metric("median"),
    "expect_column_sum_to_be_between": _metric("sum"),
    "expect_column_stdev_to_be_between": _metric("stddev_samp"),
    "expect_column_quantile_values_to_be_between": _quantiles,
    "expect_column_distinct_values_to_be_in_set": lambda k, c: _distinct(k, c, "in"),
    "expect_column_distinct_values_to_contain_set": lambda k, c: _distinct(k, c, "contain"),
    "expect_column_distinct_values_to_equal_set": lambda k, c: _distinct(k, c, "equal"),
    "expect_column_unique_value_count_to_be_between": lambda k, c: _unique_count(k, c, proportion=False),
    "expect_column_proportion_of_unique_values_to_be_between": lambda k, c: _unique_count(
        k, c, proportion=True
    ),
    "expect_column_most_common_value_to_be_in_set": _most_common,
    "expect_table_row_count_to_be_between": lambda k, c: _row_count(k, c, equal=False),
    "expect_table_row_count_to_equal": lambda k, c: _row_count(k, c, equal=True),
    "expect_table_row_count_to_equal_other_table": _other_table,
    "expect_table_column_count_to_be_between": lambda k, c: _columns(k, c, "count_between"),
    "expect_table_column_count_to_equal": lambda k, c: _columns(k, c, "count_equal"),
    "expect_table_columns_to_match_ordered_list": lambda k, c: _columns(k, c, "ordered"),
    "expect_table_columns_to_match_set": lambda k, c: _columns(k, c, "set"),
    "expect_column_to_exist": lambda k, c: _columns(k, c, "exist"),
    "expect_column_values_to_be_of_type": lambda k, c: column_type_plan(k, c, listed=False),
    "expect_column_values_to_be_in_type_list": lambda k, c: column_type_plan(k, c, listed=True),
    "unexpected_rows_expectation": _unexpected_rows,
}
