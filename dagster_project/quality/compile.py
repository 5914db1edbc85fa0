"""Compiles GX 1.x expectations to DuckDB SQL, built as sqlglot expressions, with GX's result semantics.

Each expectation becomes a `Plan`: aggregate expressions that join the batch's one scan, and a
function turning their values into GX's result (success, observed_value, unexpected_count and
unexpected_percent computed as GX's ColumnMapExpectation does: over the rows considered, i.e. the
non-null ones). Row-level expectations also carry the predicate of the rows they reject, used to
drop rows and to sample unexpected values. An expectation this module cannot compile exactly
(a regex on a non-text column, a row_condition, a GX type name pandas stores as `object`) gets no
plan and runs through GX's own engine (`gx_fallback`). The conformance test compares every type
here with GX, case by case (tests/quality/test_gx_conformance.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlglot import exp

from dagster_project.quality import regex as rx
from dagster_project.quality.values import Column, literal, literals

IDENTITY = ("filename", "file_row_number")  # the batch's row identity, not data columns


@dataclass
class Context:
    """What compiling needs to know about the batch."""

    con: duckdb.DuckDBPyConnection
    relation: str
    columns: dict[str, str]  # data column -> DuckDB type, in order (row identity left out)
    parameters: dict[str, Any]
    published: dict[str, str] = field(default_factory=dict)  # key columns ("a" or "a,b") -> main's values

    def table(self) -> exp.Table:
        return relation(self.relation)

    def column(self, name: str) -> Column:
        return Column(name, self.columns.get(name, ""))


@dataclass
class Outcome:
    """An expectation's GX result, before our own fields (samples, dropped rows) are added."""

    success: bool
    observed_value: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """How one expectation is evaluated in the batch's single scan."""

    selects: list[exp.Expression]
    finish: Callable[[list[Any], int], Outcome]  # the selects' values and the row count -> result
    unexpected: exp.Expression | None = None  # rows rejected (row-level expectations), for WHERE
    sample: tuple[str, ...] = ()  # columns whose values show in partial_unexpected_list


def relation(name: str) -> exp.Table:
    """A table or view of the connection, by its exact name."""
    return exp.Table(this=exp.to_identifier(name, quoted=True))


def view_name(table: str) -> str:
    """The DuckDB view under which another table is visible to queries (`raw.customers`)."""
    return table.replace(".", "__")


def table_view(table: str) -> str:
    """`view_name` as SQL text, for the `{raw.customers}` placeholders of a user's query."""
    return relation(view_name(table)).sql("duckdb")


def ident(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def count_star(where: exp.Expression | None = None) -> exp.Expression:
    star = exp.Count(this=exp.Star())
    return star if where is None else exp.Filter(this=star, expression=exp.Where(this=where))


def not_null(name: str) -> exp.Expression:
    return exp.Not(this=ident(name).is_(exp.null()))


def false_if_null(condition: exp.Expression) -> exp.Expression:
    return exp.func("coalesce", condition, exp.false())


def map_outcome(unexpected: int, considered: int, total: int, mostly: Any) -> Outcome:
    """GX's ColumnMapExpectation._validate and _format_map_output, on counts."""
    if total == 0 or considered == 0:
        success = True  # vacuously, as GX
    else:
        success = (float(considered) - float(unexpected)) / float(considered) >= float(mostly)
    percent = unexpected / considered * 100 if total > 0 and considered > 0 else None
    return Outcome(success, unexpected_count=unexpected, unexpected_percent=percent)


def map_plan(
    kwargs: dict[str, Any],
    domain: exp.Expression | None,
    rejected: exp.Expression,
    sample: Iterable[str],
    unexpected_count: exp.Expression | None = None,
) -> Plan:
    """A map expectation: rows in `domain` (GX's non-null rows), of which `rejected` fail."""
    unexpected = rejected if domain is None else exp.and_(domain, rejected)
    counted = unexpected_count if unexpected_count is not None else count_star(unexpected)
    mostly = kwargs.get("mostly", 1.0)
    return Plan(
        [counted, count_star(domain)],
        lambda v, total: map_outcome(int(v[0] or 0), int(v[1]), total, mostly),
        unexpected=unexpected,
        sample=tuple(sample),
    )


def _ignore_rows(columns: list[str], rule: str, default: str) -> exp.Expression | None:
    """GX's ignore_row_if as the domain of a pair/multicolumn expectation."""
    rule = rule or default
    nulls = [ident(c).is_(exp.null()) for c in columns]
    if rule in ("both_values_are_missing", "all_values_are_missing"):
        return exp.Not(this=exp.paren(exp.and_(*nulls)))
    if rule in ("either_value_is_missing", "any_value_is_missing"):
        return exp.Not(this=exp.paren(exp.or_(*nulls)))
    return None  # "never"


def _values_null(k: dict, ctx: Context, negate: bool) -> Plan:
    name = k["column"]
    rejected = ident(name).is_(exp.null()) if negate else not_null(name)
    # GX counts every row here (nulls are what is judged): unexpected_percent is over all rows.
    return map_plan(k, None, rejected, (name,))


def _unique(k: dict, ctx: Context) -> Plan:
    name = k["column"]
    c = ident(name)
    dupes = exp.select(c).from_(ctx.table()).where(not_null(name)).group_by(c).having(count_star() > 1)
    rejected: exp.Expression = c.isin(query=dupes)
    counted = None
    published = ctx.published.get(name)
    if published:
        other = exp.select(c).from_(relation(published))
        rejected = exp.or_(rejected, c.isin(query=other))
    else:
        # One grouped pass counts the duplicates: cheaper than the semi-join per row.
        n = exp.column("n")
        groups = exp.select(count_star().as_("n")).from_(ctx.table()).where(not_null(name)).group_by(c)
        total = exp.func("sum", n)
        counted = exp.Subquery(
            this=exp.select(
                exp.func("coalesce", exp.Filter(this=total, expression=exp.Where(this=n > 1)), 0)
            ).from_(groups.subquery())
        )
    return map_plan(k, not_null(name), exp.paren(rejected), (name,), counted)


def _between_condition(value: exp.Expression, k: dict, column: Column) -> exp.Expression:
    """True where a non-null value lies inside the bounds (strict_min/strict_max exclude them)."""
    parts: list[exp.Expression] = []
    if k.get("min_value") is not None:
        low = literal(k["min_value"], column)
        parts.append(value > low if k.get("strict_min") else value >= low)
    if k.get("max_value") is not None:
        high = literal(k["max_value"], column)
        parts.append(value < high if k.get("strict_max") else value <= high)
    return exp.and_(*parts) if parts else exp.true()


def _between(k: dict, ctx: Context) -> Plan | None:
    if k.get("min_value") is None and k.get("max_value") is None:
        return None  # GX refuses it with an error: its engine reports that
    name = k["column"]
    inside = _between_condition(ident(name), k, ctx.column(name))
    return map_plan(k, not_null(name), exp.Not(this=exp.paren(inside)), (name,))


def _in_set(k: dict, ctx: Context, negate: bool) -> Plan:
    name = k["column"]
    if k.get("value_set") is None:  # GX: every value passes
        return map_plan(k, not_null(name), exp.false(), (name,))
    values = literals(k["value_set"], ctx.column(name))
    member = ident(name).isin(*values) if values else exp.false()
    return map_plan(k, not_null(name), member if negate else exp.Not(this=exp.paren(member)), (name,))


def _text(name: str, ctx: Context) -> bool:
    # GX's pandas engine matches `str(value)`: only text columns render the same in DuckDB.
    return ctx.column(name).is_text


def _regex(k: dict, ctx: Context, patterns: list[str], match_on: str, negate: bool) -> Plan | None:
    name = k["column"]
    if not _text(name, ctx) or not patterns:
        return None
    rx.register(ctx.con)
    found = [rx.search(ident(name), p) for p in patterns]
    matched = exp.or_(*found) if negate or match_on == "any" else exp.and_(*found)
    return map_plan(k, not_null(name), matched if negate else exp.Not(this=exp.paren(matched)), (name,))


def _like(k: dict, ctx: Context, patterns: list[str], match_on: str, negate: bool) -> Plan | None:
    name = k["column"]
    if not patterns:
        return None
    escape = k.get("escape")
    found = []
    for pattern in patterns:
        like: exp.Expression = exp.Like(this=ident(name), expression=exp.convert(pattern))
        if escape:
            like = exp.Escape(this=like, expression=exp.convert(escape))
        found.append(like)
    matched = exp.or_(*found) if negate or match_on == "any" else exp.and_(*found)
    return map_plan(k, not_null(name), matched if negate else exp.Not(this=exp.paren(matched)), (name,))


def _lengths(k: dict, ctx: Context, equal: bool) -> Plan | None:
    name = k["column"]
    if not _text(name, ctx):
        return None
    length = exp.Length(this=ident(name))
    if equal:
        inside: exp.Expression = length.eq(exp.convert(k["value"]))
    elif k.get("min_value") is None and k.get("max_value") is None:
        return None
    else:
        inside = _between_condition(length, k, Column("", "BIGINT"))
    return map_plan(k, not_null(name), exp.Not(this=exp.paren(inside)), (name,))


def _monotonic(k: dict, ctx: Context, increasing: bool) -> Plan:
    """Each non-null value against the previous non-null one, in the batch's row order (GX: diff)."""
    name = k["column"]
    c, previous = ident(name), exp.column("__previous")
    order = exp.Order(expressions=[exp.Ordered(this=ident(i)) for i in IDENTITY])
    lag = exp.Window(this=exp.func("lag", c), order=order)
    ordered = exp.select(*(ident(i) for i in IDENTITY), c, lag.as_("__previous")).from_(ctx.table())
    ordered = ordered.where(not_null(name))
    strictly = bool(k.get("strictly"))
    if increasing:
        wrong = c <= previous if strictly else c < previous
    else:
        wrong = c >= previous if strictly else c > previous
    bad = exp.select(*(ident(i) for i in IDENTITY)).from_(ordered.subquery("o")).where(wrong)
    rejected = exp.Tuple(expressions=[ident(i) for i in IDENTITY]).isin(query=bad.subquery())
    return map_plan(k, not_null(name), rejected, (name,))


def _pair(k: dict, ctx: Context, greater: bool) -> Plan:
    a, b = k["column_A"], k["column_B"]
    domain = _ignore_rows([a, b], k.get("ignore_row_if"), "both_values_are_missing")
    if greater:
        above = ident(a) >= ident(b) if k.get("or_equal") else ident(a) > ident(b)
        rejected: exp.Expression = exp.Not(this=false_if_null(above))
    else:
        rejected = exp.NullSafeNEQ(this=ident(a), expression=ident(b))
    return map_plan(k, domain, rejected, (a, b))


def _multicolumn(k: dict, ctx: Context, kind: str) -> Plan:
    names = list(k["column_list"])
    domain = _ignore_rows(names, k.get("ignore_row_if"), "all_values_are_missing")
    if kind == "sum":
        total = exp.convert(k["sum_total"])
        summed = ident(names[0])
        for name in names[1:]:
            summed = exp.Add(this=summed, expression=ident(name))
        rejected: exp.Expression = exp.Not(this=false_if_null(exp.paren(summed).eq(total)))
    elif kind == "within_record":
        # pandas nunique(dropna=False): two missing values in a record count as one repeated value.
        pairs = [
            exp.NullSafeEQ(this=ident(x), expression=ident(y))
            for i, x in enumerate(names)
            for y in names[i + 1 :]
        ]
        rejected = exp.paren(exp.or_(*pairs)) if pairs else exp.false()
    else:  # compound uniqueness: pandas duplicated(): missing values equal each other
        key = exp.func("row", *(ident(n) for n in names))
        dupes = exp.select(key).from_(ctx.table())
        if domain is not None:
            dupes = dupes.where(domain)
        dupes = dupes.group_by(*(ident(n) for n in names)).having(count_star() > 1)
        rejected = key.isin(query=dupes)
        published = ctx.published.get(",".join(names))  # `against_table`: main's combinations too
        if published:
            taken = exp.select(exp.func("row", *(ident(n) for n in names))).from_(relation(published))
            rejected = exp.paren(exp.or_(rejected, exp.and_(domain or exp.true(), key.isin(query=taken))))
    return map_plan(k, domain, rejected, tuple(names))


# Row-level and column-map expectations; aggregates.py holds the aggregate ones, and
# engine.compile_expectation picks from both (above them, so neither imports the other).
COMPILERS: dict[str, Callable[[dict, Context], Plan | None]] = {
    "expect_column_values_to_be_null": lambda k, c: _values_null(k, c, negate=False),
    "expect_column_values_to_not_be_null": lambda k, c: _values_null(k, c, negate=True),
    "expect_column_values_to_be_unique": _unique,
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_be_in_set": lambda k, c: _in_set(k, c, negate=False),
    "expect_column_values_to_not_be_in_set": lambda k, c: _in_set(k, c, negate=True),
    "expect_column_values_to_match_regex": lambda k, c: _regex(k, c, [k["regex"]], "any", False),
    "expect_column_values_to_not_match_regex": lambda k, c: _regex(k, c, [k["regex"]], "any", True),
    "expect_column_values_to_match_regex_list": lambda k, c: _regex(
        k, c, list(k["regex_list"]), k.get("match_on") or "any", False
    ),
    "expect_column_values_to_not_match_regex_list": lambda k, c: _regex(
        k, c, list(k["regex_list"]), "any", True
    ),
    "expect_column_values_to_match_like_pattern": lambda k, c: _like(k, c, [k["like_pattern"]], "any", False),
    "expect_column_values_to_not_match_like_pattern": lambda k, c: _like(
        k, c, [k["like_pattern"]], "any", True
    ),
    "expect_column_values_to_match_like_pattern_list": lambda k, c: _like(
        k, c, list(k["like_pattern_list"]), k.get("match_on") or "any", False
    ),
    "expect_column_values_to_not_match_like_pattern_list": lambda k, c: _like(
        k, c, list(k["like_pattern_list"]), "any", True
    ),
    "expect_column_value_lengths_to_be_between": lambda k, c: _lengths(k, c, equal=False),
    "expect_column_value_lengths_to_equal": lambda k, c: _lengths(k, c, equal=True),
    "expect_column_values_to_be_increasing": lambda k, c: _monotonic(k, c, increasing=True),
    "expect_column_values_to_be_decreasing": lambda k, c: _monotonic(k, c, increasing=False),
    "expect_column_pair_values_to_be_equal": lambda k, c: _pair(k, c, greater=False),
    "expect_column_pair_values_a_to_be_greater_than_b": lambda k, c: _pair(k, c, greater=True),
    "expect_multicolumn_sum_to_equal": lambda k, c: _multicolumn(k, c, "sum"),
    "expect_select_column_values_to_be_unique_within_record": lambda k, c: _multicolumn(
        k, c, "within_record"
    ),
    "expect_compound_columns_to_be_unique": lambda k, c: _multicolumn(k, c, "compound"),
}
