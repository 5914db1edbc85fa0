"""Checks a suite's expectations against the declared types of its table's columns, when definitions load.

A range on a text column, a regex on a number or a set of strings on a date column loads fine and
then fails every run with a DuckDB cast or binder error (or never matches). Each is found here from
the declared types alone (registry types, or the SQL types of a dbt manifest), in plain Python: no
DuckDB query, no Great Expectations import.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

RANGE_TYPES = (
    "expect_column_values_to_be_between",
    "expect_column_min_to_be_between",
    "expect_column_max_to_be_between",
)
SET_TYPES = ("expect_column_values_to_be_in_set", "expect_column_values_to_not_be_in_set")
REGEX_TYPES = ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex")
_DECIMAL = re.compile(r"^(decimal|numeric)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
# Registry type names and the DuckDB SQL names a dbt manifest declares, by family.
_FAMILIES = {
    "text": ("string", "varchar", "text", "char", "bpchar", "uuid", "json"),
    "integer": ("int", "long", "integer", "bigint", "smallint", "tinyint", "hugeint", "int2", "int4", "int8"),
    "number": ("float", "double", "real", "float4", "float8", "decimal", "numeric", "double precision"),
    "date": ("date",),
    "timestamp": ("timestamp", "timestamptz", "timestamp with time zone", "datetime", "timestamp_ns"),
    "boolean": ("boolean", "bool"),
}
_DUCKDB_NAMES = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "float": "FLOAT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMP WITH TIME ZONE",
}
_WHAT = {
    "text": "text",
    "integer": "a whole number",
    "number": "a number",
    "date": "a date",
    "timestamp": "a timestamp",
    "boolean": "a boolean",
}


def family(type_name: str | None) -> str | None:
    """The family of a declared type (`text`, `integer`, `number`, `date`, `timestamp`, `boolean`).

    None for a type not known here (a struct, a list): such a column is not checked.
    """
    if not type_name:
        return None
    name = " ".join(type_name.strip().lower().split())
    if _DECIMAL.match(name):
        return "number"
    name = re.sub(r"\(.*\)$", "", name).strip()  # varchar(20), timestamp(6)
    return next((f for f, names in _FAMILIES.items() if name in names), None)


def sql_type(type_name: str) -> str:
    """The DuckDB type that `DESCRIBE` shows for a declared type (registry name or SQL name)."""
    name = " ".join(type_name.strip().lower().split())
    match = _DECIMAL.match(name)
    if match:
        return f"DECIMAL({match.group(2)},{match.group(3)})"
    return _DUCKDB_NAMES.get(name, name.upper())


def _fits(value: Any, kind: str) -> bool:
    """Whether a literal can be compared with a column of this family (DuckDB casts it, or it is one)."""
    if isinstance(value, dict) and "$PARAMETER" in value:
        return kind in ("date", "timestamp")  # every suite parameter is a timestamp
    if kind == "text":
        return isinstance(value, str)
    if kind in ("integer", "number"):
        if isinstance(value, bool):
            return False
        if isinstance(value, int | float):
            return True
        try:
            Decimal(str(value).strip())
        except InvalidOperation:
            return False
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool) or str(value).strip().lower() in ("true", "false")
    if not isinstance(value, str):
        return False
    try:
        (date if kind == "date" else datetime).fromisoformat(value.strip())
    except ValueError:
        # A date column compares with a timestamp string and the reverse: DuckDB casts between them.
        try:
            (datetime if kind == "date" else date).fromisoformat(value.strip())
        except ValueError:
            return False
    return True


def check_types(
    kind: str, kwargs: Mapping[str, Any], types: Mapping[str, str | None], table: str
) -> tuple[str, str] | None:
    """The mismatch of one expectation with its column's declared type, or None when it fits.

    Args:
        kind: The expectation type.
        kwargs: Its kwargs.
        types: Column → declared type (None: unknown, not checked).
        table: The table, for the message.

    Returns:
        (what is wrong, how to fix it), or None.
    """
    column = kwargs.get("column")
    if column is None or kind not in (
        *RANGE_TYPES,
        *SET_TYPES,
        *REGEX_TYPES,
        "expect_column_values_to_be_of_type",
    ):
        return None
    declared = types.get(column)
    family_ = family(declared)
    if family_ is None:
        return None
    typed = f"column {column!r} of {table} is {declared} ({_WHAT[family_]})"
    if kind in REGEX_TYPES and family_ != "text":
        return (
            f"{typed}: a regex checks text",
            "check numbers and dates with expect_column_values_to_be_between, or declare the column as "
            "string if it holds codes",
        )
    if kind in RANGE_TYPES:
        if family_ == "boolean":
            return f"{typed}: a range has no meaning on booleans", "use expect_column_values_to_be_in_set"
        for bound in ("min_value", "max_value"):
            value = kwargs.get(bound)
            if value is not None and not _fits(value, family_):
                fix = (
                    "check text with expect_column_values_to_be_in_set or match_regex, or declare the column "
                    "with a numeric or date type in the registry"
                    if family_ == "text"
                    else f"write {bound} as {_WHAT[family_]}, or fix the column's declared type"
                )
                return f"{typed}: a range with {bound}={value!r} cannot be compared with it", fix
    if kind in SET_TYPES:
        wrong = [v for v in kwargs.get("value_set") or [] if v is not None and not _fits(v, family_)]
        if wrong:
            shown = ", ".join(repr(v) for v in wrong[:3]) + (", ..." if len(wrong) > 3 else "")
            return (
                f"{typed}: value_set holds {len(wrong)} value(s) that are not {_WHAT[family_]} ({shown})",
                f"write every value as {_WHAT[family_]}"
                + (" (quote numbers as strings)" if family_ == "text" else "")
                + ", or fix the column's declared type",
            )
    if kind == "expect_column_values_to_be_of_type":
        observed = sql_type(declared or "")
        wanted = str(kwargs.get("type_", "")).upper()
        if not observed.startswith(wanted):
            return f"{typed}: type_ {kwargs.get('type_')!r} never matches", f"set type_ to {observed!r}"
    return None
