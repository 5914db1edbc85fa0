"""Column type expectations, judged on the dtype pandas gives the column, as GX's pandas engine does.

GX names types in the vocabulary of the engine that holds the data; our batches reach GX's own
engine as pandas DataFrames (`to_pandas` below, shared with the fallback), so `type_` names a
numpy/pandas dtype or a Python type (`int64`, `float64`, `datetime64`, `str`, `object`). A column
pandas stores as `object` (text, dates, decimals, nested values) is judged value by value by GX:
those cases run through GX's engine itself.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlglot import exp

from dagster_project.quality.compile import Context, Outcome, Plan, ident, not_null

_NATIVE = {
    "none": (type(None),),
    "bool": (bool,),
    "int": (int,),
    "long": (int,),
    "float": (float,),
    "bytes": (bytes,),
    "complex": (complex,),
    "str": (str,),
    "string_types": (str,),
    "list": (list,),
    "dict": (dict,),
}


def to_pandas(table: pa.Table):
    """The batch as GX's pandas engine sees it (one conversion for the fallback and the type checks)."""
    return table.to_pandas()


def pandas_dtype(ctx: Context, name: str):
    """The dtype pandas gives `name` for this batch: one null row and one value decide it."""
    table = ctx.table()
    nulls = exp.select(ident(name)).from_(table).where(ident(name).is_(exp.null())).limit(1)
    values = exp.select(ident(name)).from_(table).where(not_null(name)).limit(1)
    both = exp.union(nulls.subquery(), values.subquery(), distinct=False)
    return to_pandas(ctx.con.execute(both.sql("duckdb")).to_arrow_table())[name].dtype


def _comparable_types(type_: str, with_dtype: bool) -> list[Any]:
    import numpy as np
    import pandas as pd

    found: list[Any] = []
    try:
        found.append(np.dtype(type_).type)
        if with_dtype:
            found.append(np.dtype(type_))
    except TypeError:
        pd_type = getattr(pd, type_, None)
        if isinstance(pd_type, type):
            found.append(pd_type)
            if with_dtype:
                try:
                    if isinstance(pd_type(), pd.core.dtypes.base.ExtensionDtype):
                        found.append(pd_type())
                except TypeError:
                    pass
        dtype_class = getattr(pd.core.dtypes.dtypes, type_, None)
        if isinstance(dtype_class, type):
            found.append(dtype_class)
    found.extend(_NATIVE.get(type_.lower(), ()))
    return found


def _sql_names(k: dict[str, Any], listed: bool) -> list[str] | None:
    """The type names when they are SQL names (`BIGINT`, `TIMESTAMP WITH TIME ZONE`), else None."""
    names = k.get("type_list") if listed else [k.get("type_")]
    if names and all(isinstance(n, str) and n[:1].isalpha() and n == n.upper() for n in names):
        return names
    return None


def column_type_plan(k: dict[str, Any], ctx: Context, *, listed: bool) -> Plan | None:
    """expect_column_values_to_be_of_type / _in_type_list, as GX's `_validate_pandas`.

    Upper-case SQL type names are judged as GX's SQL engines judge them: against the column's
    type in the database (here DuckDB's names, e.g. BIGINT, VARCHAR, TIMESTAMP WITH TIME ZONE).
    """
    sql = _sql_names(k, listed)
    if sql is not None:
        observed_sql = ctx.columns[k["column"]]
        ok_sql = any(observed_sql.upper().startswith(n) for n in sql)
        return Plan([], lambda _v, _total: Outcome(ok_sql, observed_sql))
    actual = pandas_dtype(ctx, k["column"])
    observed = actual.type.__name__
    if listed:
        wanted = k.get("type_list")
        if observed == "object_" and wanted is not None:
            return None  # GX judges each value: its engine does it
        ok = wanted is None or actual in [t for w in wanted for t in _comparable_types(w, True)]
    else:
        wanted = k.get("type_")
        if observed == "object_" and wanted not in ("object", "object_", "O", None):
            return None
        ok = wanted is None or actual.type in _comparable_types(wanted, False)
    return Plan([], lambda _v, _total: Outcome(bool(ok), observed))
