"""The registry fix for a value that does not fit its column's type, in words that work as written.

The fix names the smallest type that holds the value's actual digits (`35.05` in a `decimal(18,1)`
column: `decimal(18,2)`), or the `formats:` key that reads its dates, and the command that then
loads the file: `foundation retry` where Iceberg can change the table's type in place (see
`evolution.widens`), `foundation rebuild` where it cannot. Only the value's shape (its digits, its
layout) is used: the value itself is never quoted (it may be personal data).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from dagster_project.lakehouse.evolution import widens
from dagster_project.registry import Dataset

MAX_DECIMAL_PRECISION = 38  # Iceberg's
DOUBLE_DIGITS = 15  # significant digits a double keeps exactly
_LONG = 2**63
# Layouts exports use, tried in this order; Python's strptime reads them as DuckDB's does.
_DATE_FORMATS = (
    "%d/%m/%Y", "%m/%d/%Y", "%Y/%m/%d", "%d.%m.%Y", "%d-%m-%Y", "%m-%d-%Y", "%Y%m%d",
    "%d/%m/%y", "%m/%d/%y", "%d %b %Y", "%b %d %Y", "%d-%b-%Y",
)  # fmt: skip
_TIMES = ("%H:%M:%S", "%H:%M", "%H:%M:%S.%f", "%I:%M:%S %p", "%I:%M %p")
_TIMESTAMP_FORMATS = tuple(f"{day} {time}" for day in _DATE_FORMATS[:7] for time in _TIMES)
_DECIMAL_COMMA = re.compile(r"[+-]?([0-9]{1,3}(\.[0-9]{3})+|[0-9]+),[0-9]+")
_WIDER = {
    "int": "long for larger whole numbers (evolves in place), or double / decimal(p,s) for fractions",
    "long": "decimal(38,0) or double",
    "float": "double (evolves in place)",
    "double": "decimal(p,s) or string",
    "boolean": "string",
    "date": "string, or the date's format under formats.date",
    "timestamp": "string, or the timestamp's format under formats.timestamp",
    "timestamptz": "string, or the timestamp's format under formats.timestamp",
}


def type_fix(
    sources_file: Path,
    dataset: Dataset,
    column: str | None,
    *,
    whole_file: bool,
    row_data: str | None = None,
) -> str:
    """The fix for values that do not fit their column's type, in words that work as written.

    A file quarantined whole is read again by `foundation retry`, which first widens the table;
    a type Iceberg cannot reach in place needs `foundation rebuild`. A row set apart belongs to a
    file that is already in the table, so only a rebuild (which re-reads every landed file) or
    the file landed again with the value fixed brings it in.

    Args:
        sources_file: The registry file, named in the fix.
        dataset: The registry entry.
        column: The column as named in the file (None: the row as a whole).
        whole_file: Whether the file was quarantined whole (else rows were set apart).
        row_data: The row as landed (JSON object by column); only the shape of the column's value
            is used, to name a type it fits. Never quoted.

    Returns:
        The fix, starting "to load it, ".
    """
    declared = _declared(dataset, column)
    rebuild = f"`foundation rebuild {dataset.table}`"
    retry = f"`foundation retry {dataset.name}`"
    start = "to load it, fix the value and land the file again, or "
    if declared is None:
        what = f"declare the column's type under datasets.{dataset.name}.columns"
    else:
        value = _value(row_data, column)
        fitting = _fitting_type(declared.type, value, dataset) if value is not None else None
        key = None if fitting else _format_key(declared.type, value, dataset) if value is not None else None
        where = f"datasets.{dataset.name}.columns.{declared.name}"
        if fitting:
            in_place = widens(declared.type, fitting)
            first = "the first value that does not fit" if whole_file else "this row's value"
            what = f"declare {where} as {fitting} (it is {declared.type}; {first} needs at least that"
            if not whole_file:
                then = f"then run {rebuild}, which re-reads every landed file with the registry's types"
            elif in_place:
                then = f"then run {retry} ({declared.type}→{fitting} evolves the table in place)"
            else:
                then = (
                    f"then run {rebuild} ({declared.type}→{fitting} is a change Iceberg cannot make in "
                    "place: the rebuild re-reads every landed file into the new type)"
                )
            return f"{start}{what}) in {sources_file}, {then}"
        if key:
            then = (
                f"then run {retry}" if whole_file else f"then run {rebuild}, which re-reads every landed file"
            )
            return f"{start}declare {key} in {sources_file} (the column stays {declared.type}), {then}"
        suggestion = _WIDER.get(declared.type, "a decimal with more precision (same scale evolves in place)")
        what = f"declare {where} as a type its values fit (it is {declared.type}: e.g. {suggestion})"
    if whole_file:
        then = (
            f"then run {retry} (a widening such as int→long or float→double is applied to the table "
            f"first); any other type change needs {rebuild}, which re-reads every landed file"
        )
    else:
        then = f"then run {rebuild}, which re-reads every landed file with the registry's types"
    return f"{start}{what} in {sources_file}, {then}"


def _declared(dataset: Dataset, column: str | None):  # noqa: ANN202 - registry.Column | None
    """The declared column a file's column is bound to: by name, or by its letters and digits."""
    if not column:
        return None
    letters = re.sub(r"[^0-9a-z]", "", column.lower())
    return dataset.column(column) or next(
        (c for c in dataset.columns if c.name.replace("_", "") == letters), None
    )


def _value(row_data: str | None, column: str | None) -> str | None:
    """The column's value in the landed row, as text (a Parquet number as Python writes it)."""
    if not row_data or not column:
        return None
    try:
        value = json.loads(row_data).get(column)
    except (ValueError, AttributeError):
        return None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def _number(text: str, dataset: Dataset) -> Decimal | None:
    """The value as a finite number, read as the dialect writes numbers; None when it is not one."""
    text = text.strip()
    if dataset.dialect.decimal == ",":
        text = text.replace(".", "").replace(",", ".")
    if not re.fullmatch(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", text):
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _decimal_for(number: Decimal, precision: int = 1, scale: int = 0) -> str | None:
    """The smallest decimal(p,s) at least (precision, scale) that holds `number` exactly."""
    _, digits, exponent = number.normalize().as_tuple()
    places = max(0, -int(exponent))
    whole = max(0, len(digits) + int(exponent))
    scale = max(scale, places)
    precision = max(precision, whole + scale, 1)
    return f"decimal({precision},{scale})" if precision <= MAX_DECIMAL_PRECISION else None


def _significant(number: Decimal) -> int:
    return len(number.normalize().as_tuple().digits)


def _fitting_type(declared: str, text: str, dataset: Dataset) -> str | None:
    """The registry type that holds a value `declared` could not, keeping the column's other values."""
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        return "string"  # a JSON object or list (its JSON text)
    number = _number(stripped, dataset)
    scientific = "e" in stripped.lower()
    if dataset.format == "csv" and dataset.dialect.decimal != "," and _DECIMAL_COMMA.fullmatch(stripped):
        return None  # a decimal comma: the dialect, not the type (see _format_key)
    if declared in ("int", "long"):
        if number is None:
            return "string"
        if number == number.to_integral_value() and not scientific:
            if declared == "int" and -_LONG <= number < _LONG:
                return "long"
            return _decimal_for(number) or "string"
        return "double" if _significant(number) <= DOUBLE_DIGITS else _decimal_for(number) or "string"
    if declared in ("float", "double"):
        if number is None:
            return "string"
        if declared == "float" and _significant(number) <= DOUBLE_DIGITS:
            return "double"
        return _decimal_for(number) or "string"
    decimal = re.fullmatch(r"decimal\((\d+),\s*(\d+)\)", declared)
    if decimal:
        if number is None:
            return "string"
        if scientific:
            return "double" if _significant(number) <= DOUBLE_DIGITS else "string"
        return _decimal_for(number, int(decimal.group(1)), int(decimal.group(2))) or "string"
    if declared == "boolean":
        return "string"
    if declared in ("date", "timestamp", "timestamptz"):
        if _format_key(declared, stripped, dataset):
            return None
        if declared == "date" and _formats(
            stripped, ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M")
        ):
            return "timestamp"
        return "string"
    return None  # a string column: no other type holds more


def _format_key(declared: str, text: str, dataset: Dataset) -> str | None:
    """The dialect key that reads the value as `declared`: a date or timestamp format, a decimal comma."""
    text = text.strip()
    if dataset.format == "csv" and dataset.dialect.decimal != "," and _DECIMAL_COMMA.fullmatch(text):
        if declared in ("float", "double") or declared.startswith("decimal"):
            return f"datasets.{dataset.name}.csv.decimal: ',' (the file writes a decimal comma)"
    if declared == "date":
        key, candidates = "date", _DATE_FORMATS
    elif declared in ("timestamp", "timestamptz"):
        key, candidates = "timestamp", _TIMESTAMP_FORMATS
    else:
        return None
    declared_format = dataset.dialect.date_format if key == "date" else dataset.dialect.timestamp_format
    found = [f for f in _formats(text, candidates) if f != declared_format]
    if not found:
        return None
    shown = " or ".join(f"'{f}'" for f in found[:2])
    which = " (the file's other values tell which)" if len(found) > 1 else ""
    return f"datasets.{dataset.name}.formats.{key}: {shown}{which}"


def _formats(text: str, candidates: tuple[str, ...]) -> list[str]:
    found = []
    for fmt in candidates:
        try:
            datetime.strptime(text, fmt)  # noqa: DTZ007 - only the layout is checked
        except ValueError:
            continue
        found.append(fmt)
    return found
