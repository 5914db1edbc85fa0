"""Evaluates GX 1.x expectations on a batch in DuckDB, with results in GX's result format.

Great Expectations' pandas engine needs the batch in memory as a DataFrame (about 0.5 s and
hundreds of MB per million rows here) and its SQL engine does not run on DuckDB, so expectations
are compiled to SQL (`compile.py`, `aggregates.py`, `types.py`) and run where the batch already
is: one scan for every count and metric, then a small query per failing row-level expectation
for sample values. What cannot be compiled exactly runs through GX's own engine on the batch
(`gx_fallback.py`): slower, never refused. tests/quality/test_gx_conformance.py holds the
compiled results equal to GX's, case by case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
from sqlglot import exp

from dagster_project.quality.aggregates import AGGREGATES
from dagster_project.quality.compile import (
    COMPILERS,
    IDENTITY,
    Context,
    Outcome,
    Plan,
    count_star,
    ident,
    table_view,
    view_name,
)
from dagster_project.quality.suites import Expectation
from dagster_project.quality.values import resolve

__all__ = ["ExpectationResult", "evaluate", "table_view", "unexpected_predicate", "view_name"]

SAMPLE = 5
MASK = "•••"


def compile_expectation(kind: str, kwargs: dict[str, Any], ctx: Context) -> Plan | None:
    """The plan of one expectation, or None when it must run through GX's own engine.

    Args:
        kind: The GX expectation type.
        kwargs: Its kwargs, suite parameters not yet resolved.
        ctx: The batch.
    """
    if kwargs.get("row_condition"):
        return None  # GX's row_condition grammar: its own engine applies it
    compiler = COMPILERS.get(kind) or AGGREGATES.get(kind)
    if compiler is None:
        return None
    resolved = resolve(kwargs, ctx.parameters)
    for key in ("column", "column_A", "column_B"):
        if kind != "expect_column_to_exist" and key in resolved and resolved[key] not in ctx.columns:
            return None  # GX reports the missing column as its error
    for name in resolved.get("column_list") or []:
        if kind != "expect_table_columns_to_match_ordered_list" and name not in ctx.columns:
            return None
    return compiler(resolved, ctx)


@dataclass
class ExpectationResult:
    """One expectation's outcome on a batch (GX's `result` fields, plus our action)."""

    expectation: Expectation
    success: bool
    element_count: int
    observed_value: Any = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    partial_unexpected_list: list[Any] = field(default_factory=list)
    dropped: int = 0
    details: dict[str, Any] = field(default_factory=dict)  # GX's other result keys (missing_count…)
    engine: str = "duckdb"  # or "great_expectations" when GX's own engine evaluated it

    def as_gx_result(self) -> dict[str, Any]:
        """The `result` dict of a GX ExpectationValidationResult."""
        result: dict[str, Any] = {"element_count": self.element_count}
        if self.observed_value is not None:
            result["observed_value"] = self.observed_value
        if self.unexpected_count is not None:
            result.update(
                unexpected_count=self.unexpected_count,
                unexpected_percent=self.unexpected_percent,
                partial_unexpected_list=self.partial_unexpected_list,
            )
        result.update(self.details)
        return result


def batch_columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """The batch's data columns and their DuckDB types, in order (its row identity left out)."""
    rel = con.table(relation)
    return {n: str(t) for n, t in zip(rel.columns, rel.types, strict=True) if n not in IDENTITY}


def _context(con, relation, parameters, published) -> Context:
    return Context(con, relation, batch_columns(con, relation), parameters, dict(published or {}))


def unexpected_predicate(
    expectation: Expectation, relation: str, parameters: dict[str, Any], con: duckdb.DuckDBPyConnection
) -> exp.Expression:
    """The rows of `relation` a row-level expectation rejects, as a sqlglot condition."""
    ctx = _context(con, relation, parameters, None)
    plan = compile_expectation(expectation.type, expectation.kwargs, ctx)
    if plan is None or plan.unexpected is None:
        raise ValueError(f"{expectation.type} does not judge single rows here")
    return plan.unexpected


def evaluate(
    con: duckdb.DuckDBPyConnection,
    expectations: list[Expectation],
    *,
    relation: str,
    parameters: dict[str, Any],
    pii_columns: set[str],
    published: dict[str, str] | None = None,
) -> list[ExpectationResult]:
    """Evaluate expectations on `relation` (a view or table in `con` with filename/file_row_number).

    Args:
        con: The connection holding the batch.
        expectations: What to check.
        relation: The batch's name in `con`.
        parameters: Suite parameter values (`now`, `freshness_floor`).
        pii_columns: Columns whose unexpected values are masked in the results.
        published: For uniqueness against the table: column -> relation of main's values.

    Returns:
        One result per expectation, in order.
    """
    if not expectations:
        return []
    ctx = _context(con, relation, parameters, published)
    plans = [compile_expectation(e.type, e.kwargs, ctx) for e in expectations]
    selects = [count_star()] + [s for p in plans if p is not None for s in p.selects]
    row = con.execute(exp.select(*selects).from_(ctx.table()).sql("duckdb")).fetchone()
    assert row is not None
    total, values = int(row[0]), list(row[1:])
    outside = [e for e, p in zip(expectations, plans, strict=True) if p is None]
    fallback: list[Outcome] = []
    if outside:
        from dagster_project.quality import gx_fallback  # imports GX (seconds): only when needed

        fallback = gx_fallback.validate(con, relation, list(ctx.columns), outside, parameters)
    by_gx = iter(fallback)
    results = []
    for e, plan in zip(expectations, plans, strict=True):
        if plan is None:
            outcome = next(by_gx)
        else:
            outcome = plan.finish(values[: len(plan.selects)], total)
            values = values[len(plan.selects) :]
        result = ExpectationResult(
            e,
            success=bool(outcome.success),
            element_count=total,
            observed_value=outcome.observed_value,
            unexpected_count=outcome.unexpected_count,
            unexpected_percent=outcome.unexpected_percent,
            details=outcome.details,
            engine="duckdb" if plan is not None else "great_expectations",
        )
        if plan is None:
            result.partial_unexpected_list = _masked(
                outcome.details.pop("partial_unexpected_list", []), e, pii_columns
            )
        elif plan.unexpected is not None and outcome.unexpected_count:
            result.partial_unexpected_list = _sample(con, ctx, plan, pii_columns)
        results.append(result)
    return results


def _masked(values: list[Any], e: Expectation, pii_columns: set[str]) -> list[Any]:
    columns = {e.kwargs.get(k) for k in ("column", "column_A", "column_B")} | set(
        e.kwargs.get("column_list") or []
    )
    return [MASK] * len(values) if columns & pii_columns else [_plain(v) for v in values]


def _plain(value: Any) -> Any:
    return value.isoformat(sep=" ") if isinstance(value, datetime) else value


def _sample(con: duckdb.DuckDBPyConnection, ctx: Context, plan: Plan, pii_columns: set[str]) -> list[Any]:
    """Up to SAMPLE rejected values (row numbers when the expectation names no column), PII masked."""
    assert plan.unexpected is not None
    if not plan.sample:
        picked = exp.select(ident("file_row_number")).from_(ctx.table()).where(plan.unexpected).limit(SAMPLE)
        return [f"row {r[0] + 1}" for r in con.execute(picked.sql("duckdb")).fetchall()]
    picked = exp.select(*(ident(c) for c in plan.sample)).from_(ctx.table()).where(plan.unexpected)
    rows = con.execute(picked.limit(SAMPLE).sql("duckdb")).fetchall()
    if len(plan.sample) == 1:
        return [MASK if plan.sample[0] in pii_columns else _plain(r[0]) for r in rows]
    # GX's multicolumn results: one {column: value} per unexpected row, PII parts masked.
    masked = [MASK if c in pii_columns else None for c in plan.sample]
    return [{c: m or _plain(v) for c, m, v in zip(plan.sample, masked, r, strict=True)} for r in rows]
