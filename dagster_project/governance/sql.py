"""SQL safety rules shared by the policy loader and the query engine: what governed SQL may contain."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

DIALECT = "duckdb"
# Functions that read files, other databases, the environment or run SQL from a string: any of
# them would read around the policy, so a governed statement may call none.
FORBIDDEN_FUNCTIONS = frozenset(
    {
        "glob",
        "query",
        "query_table",
        "getenv",
        "current_setting",
        "columns",
        "st_read",
        "load_extension",
        "read_csv",
        "read_parquet",
        "parquet_scan",
        "iceberg_scan",
    }
)
FORBIDDEN_PREFIXES = (
    "read_",
    "parquet_",
    "iceberg_",
    "delta_",
    "sqlite_",
    "postgres_",
    "mysql_",
    "duckdb_",
    "pragma_",
    "sniff_",
    "http",
    "which_secret",
)
# Table functions that read nothing: harmless row generators.
ALLOWED_TABLE_FUNCTIONS = (exp.GenerateSeries, exp.Unnest, exp.ExplodingGenerateSeries)


def function_name(node: exp.Func) -> str:
    """The SQL name of a function call, lower case (`read_parquet`, `iceberg_scan`, ...)."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def forbidden_function(node: exp.Expression) -> str | None:
    """The first function in `node` that reads outside the policy, or None."""
    for func in node.find_all(exp.Func):
        if isinstance(func, exp.Columns):
            return "columns"
        name = function_name(func)
        if name in FORBIDDEN_FUNCTIONS or name.startswith(FORBIDDEN_PREFIXES):
            return name
    return None


def parse_expression(text: str) -> exp.Expression:
    """Parse a scalar or boolean SQL expression (a mask or a row filter).

    Raises:
        ValueError: It does not parse, reads a table, or calls a forbidden function.
    """
    try:
        node = sqlglot.parse_one(text, read=DIALECT, into=exp.Condition)
    except sqlglot.errors.ParseError as exc:
        raise ValueError(f"not a SQL expression ({str(exc).splitlines()[0]})") from exc
    if node.find(exp.Query, exp.Table) is not None:
        raise ValueError("a mask or filter may use the table's columns only, no subqueries")
    name = forbidden_function(node)
    if name:
        raise ValueError(f"function {name}() is not allowed")
    return node


def referenced_columns(node: exp.Expression) -> set[str]:
    """Column names an expression uses."""
    return {c.name for c in node.find_all(exp.Column)}
