"""Suite values as SQL literals of a column's type: parameters resolved, datetimes parsed as GX does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlglot import exp

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "REAL", "DECIMAL")
_UNSIGNED = ("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")


@dataclass(frozen=True)
class Column:
    """A batch column and its DuckDB type, as `DESCRIBE` names it."""

    name: str
    type: str

    @property
    def is_text(self) -> bool:
        return self.type == "VARCHAR"

    @property
    def is_numeric(self) -> bool:
        return self.type.startswith(_NUMERIC + _UNSIGNED)

    @property
    def is_zoned(self) -> bool:
        return self.type == "TIMESTAMP WITH TIME ZONE"

    @property
    def is_temporal(self) -> bool:
        return self.type.startswith(("TIMESTAMP", "DATE"))


def resolve(value: Any, parameters: dict[str, Any]) -> Any:
    """Kwargs with every `{"$PARAMETER": name}` replaced by the parameter's value."""
    if isinstance(value, dict):
        if set(value) == {"$PARAMETER"}:
            return parameters[value["$PARAMETER"]]
        return {k: resolve(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, parameters) for v in value]
    return value


def as_datetime(value: Any) -> Any:
    """A string bound on a temporal column is parsed as GX does (dateutil), else left as is."""
    if isinstance(value, str):
        from dateutil.parser import parse  # pandas' own dependency

        return parse(value)
    return value


def comparable(value: Any, column: Column) -> bool:
    """Whether a set member can equal a value of the column (pandas' isin never matches across kinds)."""
    if value is None:
        return False
    if column.is_numeric or column.type == "BOOLEAN":
        return isinstance(value, int | float | Decimal)  # bool is an int, as in Python
    if column.is_text:
        return isinstance(value, str)
    if column.is_temporal:
        return isinstance(value, str | date)
    return True


def literal(value: Any, column: Column) -> exp.Expression:
    """`value` as a literal comparable with the column's values."""
    if column.is_temporal:
        value = as_datetime(value)
    if isinstance(value, datetime):
        if value.tzinfo is None and column.is_zoned:
            value = value.replace(tzinfo=UTC)  # suite parameters are naive UTC
        zoned = value.tzinfo is not None
        text = value.isoformat(sep=" ")
        return exp.cast(exp.convert(text), "TIMESTAMPTZ" if zoned else "TIMESTAMP", dialect="duckdb")
    if isinstance(value, date):
        return exp.cast(exp.convert(value.isoformat()), "DATE")
    if isinstance(value, Decimal):
        value = float(value)
    return exp.convert(value)


def literals(values: list[Any], column: Column) -> list[exp.Expression]:
    """The members of a value set that the column can hold, as literals."""
    return [literal(v, column) for v in values if comparable(v, column)]
