"""Exact casts of landed values to declared column types, as DuckDB SQL: a value fits exactly or is rejected.

DuckDB's own casts are lenient in ways a data platform must not be: '1.5' becomes the integer 2,
'2024-02-03 10:00' becomes the date 2024-02-03, a double 19.999999999 becomes decimal 20.00, a
7-digit fraction of a second is cut to 6 and years before 1 or after 9999 pass (and then crash
the Iceberg commit). Each cast here is a pair of SQL expressions over one source column: the
converted value, and a problem that is NULL when the value fits exactly (or is missing) and
otherwise a short reason in words (never the value itself: it may be personal data).
"""

from __future__ import annotations

from dataclasses import dataclass

from dagster_project.lakehouse.tables import duckdb_type
from dagster_project.registry import DECIMAL_TYPE

INTEGERS = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
}
FLOATS = {"FLOAT", "DOUBLE"}
TIMESTAMPS = {"TIMESTAMP", "TIMESTAMP_MS", "TIMESTAMP_S", "TIMESTAMP_NS"}
TIMESTAMPTZ = "TIMESTAMP WITH TIME ZONE"
_RANGES = {"int": "-2147483648 to 2147483647", "long": "-9223372036854775808 to 9223372036854775807"}
_FIRST_DAY, _LAST_DAY = "DATE '0001-01-01'", "DATE '9999-12-31'"
_FIRST_MOMENT, _LAST_MOMENT = "TIMESTAMP '0001-01-01 00:00:00'", "TIMESTAMP '9999-12-31 23:59:59.999999'"
_YEARS = "outside the years 0001 to 9999 that Iceberg stores"
_SPACE = r"[ \t]*"
_WHOLE = rf"{_SPACE}[+-]?([0-9]+(\.0*)?|\.0+){_SPACE}"
_SCIENTIFIC = rf"{_SPACE}[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)[eE][+-]?[0-9]+{_SPACE}"
_FRACTION = rf"{_SPACE}[+-]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?{_SPACE}"
_NUMBER = rf"{_SPACE}[+-]?(([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|nan|inf|infinity){_SPACE}"
_NOT_FINITE = rf"{_SPACE}[+-]?(nan|inf|infinity){_SPACE}"
_DECIMAL = rf"{_SPACE}[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+){_SPACE}"
_DATE = r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
_TIME = r"[0-9]{1,2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
_OFFSET = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)"
_MIDNIGHT = r"([ T]00:00(:00(\.0+)?)?)?"
_TIMESTAMP = rf"{_SPACE}{_DATE}([ T]{_TIME}{_SPACE}{_OFFSET}?)?{_SPACE}"
_WITH_OFFSET = rf"{_TIME}{_SPACE}{_OFFSET}{_SPACE}$"
_SUB_MICROSECOND = r"\.[0-9]{6}0*[1-9]"
# The offset's hours and minutes, after a time of day (a date's "-01" is no offset).
_OFFSET_PARTS = r"[0-9]:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?[ \t]*[+-]([0-9]{2}):?([0-9]{2})?[ \t]*$"


@dataclass(frozen=True)
class Cast:
    """SQL for one column: its value in the table's type, and why it does not fit (NULL: it fits)."""

    value: str
    problem: str


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _full(value: str, pattern: str, flags: str = "") -> str:
    options = f", {literal(flags)}" if flags else ""
    return f"regexp_full_match({value}, {literal(pattern)}{options})"


def _case(value: str, *branches: tuple[str, str], fast: str | None = None, text: bool = False) -> str:
    """CASE over (condition, reason) pairs, NULL when the value is NULL or none applies.

    `fast` is a cheap condition that proves most values fine (e.g. the value reads back exactly as
    written after the cast): the regular expressions then run only on the rest. For `text`, a blank
    field is a missing value (its TRY_CAST is NULL too), tested only once the fast path failed.
    """
    whens = " ".join(f"WHEN {condition} THEN {literal(reason)}" for condition, reason in branches)
    shortcut = f"WHEN {fast} THEN NULL " if fast else ""
    blank = f"WHEN {_blank(value)} THEN NULL " if text else ""
    return f"CASE WHEN {value} IS NULL THEN NULL {shortcut}{blank}{whens} END"


def _text_case(value: str, *branches: tuple[str, str], fast: str | None = None) -> str:
    """`_case` for landed text: a blank field is a missing value."""
    return _case(value, *branches, fast=fast, text=True)


def _reads_back(text: str, sql_type: str) -> str:
    """The value cast to `sql_type` renders exactly as written: it fits, nothing was lost."""
    return f"CAST(TRY_CAST({text} AS {sql_type}) AS VARCHAR) = {text}"


def _reads_back_timestamp(text: str) -> str:
    """`_reads_back` for timestamps, also when the text pads its fraction with zeros.

    DuckDB renders `.709820` as `.70982`: without the second test a tenth of all microsecond
    timestamps (and most millisecond ones) would take the regular expressions. Zeros appended to a
    fraction the rendering has (it holds a '.') never change the value.
    """
    rendered = f"CAST(TRY_CAST({text} AS TIMESTAMP) AS VARCHAR)"
    return f"({rendered} = {text} OR (contains({rendered}, '.') AND {rendered} = rtrim({text}, '0')))"


def _four_digit_year(text: str) -> str:
    return f"substr({text}, 5, 1) = '-' AND NOT starts_with({text}, '0000')"


def _blank(value: str) -> str:
    return f"trim({value}, ' \t') = ''"


def cast_column(source: str, source_type: str | None, target: str) -> Cast:
    """The exact cast of one landed column to a registry type.

    Args:
        source: SQL for the landed value (a quoted column name).
        source_type: Its DuckDB type; None or VARCHAR for text (CSV fields, JSON values as text).
        target: The registry type (`long`, `decimal(12,2)`, `timestamp`, ...).

    Returns:
        The value expression and the problem expression.
    """
    kind = (source_type or "VARCHAR").upper()
    if target == "string":
        return _to_string(source, kind)
    if kind == "VARCHAR":
        return _from_text(source, target)
    if kind == "BLOB" or _is_nested(kind) or kind in ("JSON", "TIME", "INTERVAL", "UUID", "BIT"):
        what = "nested value (list or object)" if _is_nested(kind) else kind.lower()
        return Cast(
            f"CAST(NULL AS {duckdb_type(target)})", _case(source, ("TRUE", f"a {what}, not {target}"))
        )
    if kind == "BOOLEAN":
        if target == "boolean":
            return Cast(source, "CAST(NULL AS VARCHAR)")
        return Cast(
            f"CAST(NULL AS {duckdb_type(target)})", _case(source, ("TRUE", f"a boolean, not {target}"))
        )
    if kind in INTEGERS:
        return _from_integer(source, target)
    if kind in FLOATS:
        return _from_float(source, kind, target)
    if kind.startswith("DECIMAL"):
        return _from_decimal(source, target)
    if kind in TIMESTAMPS or kind in (TIMESTAMPTZ, "DATE"):
        return _from_temporal(source, kind, target)
    # Anything else: judge its text, as if it had landed in a CSV file.
    return _from_text(f"CAST({source} AS VARCHAR)", target)


def _is_nested(kind: str) -> bool:
    return kind.startswith(("STRUCT", "MAP", "UNION")) or kind.endswith("]")


def _to_string(source: str, kind: str) -> Cast:
    if kind == "VARCHAR":
        return Cast(source, "CAST(NULL AS VARCHAR)")
    if kind == "BLOB":
        value = f"TRY(decode({source}))"
        return Cast(value, _case(source, (f"{value} IS NULL", "binary data that is not UTF-8 text")))
    if _is_nested(kind) or kind == "JSON":
        return Cast(f"CAST(to_json({source}) AS VARCHAR)", "CAST(NULL AS VARCHAR)")
    return Cast(f"CAST({source} AS VARCHAR)", "CAST(NULL AS VARCHAR)")


def _from_text(text: str, target: str) -> Cast:
    sql_type = duckdb_type(target)
    if target in ("int", "long"):
        return Cast(
            f"TRY_CAST({text} AS {sql_type})",
            _text_case(
                text,
                (
                    f"NOT {_full(text, _WHOLE)} AND {_full(text, _SCIENTIFIC)}",
                    f"not a whole number in plain digits ({target}): scientific notation is never converted",
                ),
                (f"NOT {_full(text, _WHOLE)} AND {_full(text, _FRACTION)}", _FRACTIONAL.format(target)),
                (f"NOT {_full(text, _WHOLE)}", f"not a whole number ({target})"),
                (f"TRY_CAST({text} AS {sql_type}) IS NULL", f"out of range for {target} ({_RANGES[target]})"),
                fast=_reads_back(text, sql_type),
            ),
        )
    if target in ("float", "double"):
        value = f"TRY_CAST({text} AS {sql_type})"
        return Cast(
            value,
            _text_case(
                text,
                (
                    f"NOT {_full(text, _NUMBER, 'i')} OR TRY_CAST({text} AS DOUBLE) IS NULL",
                    f"not a number ({target})",
                ),
                (
                    f"{value} IS NULL OR (NOT isfinite({value}) AND NOT {_full(text, _NOT_FINITE, 'i')})",
                    f"out of range for {target}",
                ),
                (  # 1e-400 is not zero, but would be stored as 0
                    f"{value} = 0 AND regexp_matches(split_part(lower({text}), 'e', 1), '[1-9]')",
                    f"too close to zero for {target} (it would be stored as 0)",
                ),
                fast=f"{_reads_back(text, sql_type)} AND isfinite({value})",
            ),
        )
    decimal = DECIMAL_TYPE.match(target)
    if decimal:
        precision, scale = int(decimal.group(1)), int(decimal.group(2))
        whole = precision - scale
        places = rf"{_SPACE}[+-]?[0-9]*(\.[0-9]{{0,{scale}}}0*)?{_SPACE}"
        digits = rf"{_SPACE}[+-]?0*[0-9]{{0,{whole}}}(\.[0-9]*)?{_SPACE}"
        return Cast(
            f"TRY_CAST({text} AS {sql_type})",
            _text_case(
                text,
                (_full(text, _NOT_FINITE, "i"), "NaN or Infinity has no decimal value"),
                (
                    f"NOT {_full(text, _DECIMAL)}",
                    f"not a decimal number ({target}: digits, '.' as the point)",
                ),
                (
                    f"NOT {_full(text, places)}",
                    f"more than {scale} decimal places for {target} (never rounded)",
                ),
                (
                    f"NOT {_full(text, digits)}",
                    f"more than {whole} digits before the decimal point for {target}",
                ),
                fast=_reads_back(text, sql_type),
            ),
        )
    if target == "boolean":
        value = f"TRY_CAST({text} AS BOOLEAN)"
        return Cast(
            value, _text_case(text, (f"{value} IS NULL", "not a boolean (true/false, t/f, yes/no, 1/0)"))
        )
    if target == "date":
        value = f"TRY_CAST({text} AS DATE)"
        day = rf"{_SPACE}{_DATE}{_MIDNIGHT}{_SPACE}"
        return Cast(
            value,
            _text_case(
                text,
                (
                    f"NOT {_full(text, day)} AND {_full(text, _TIMESTAMP)}",
                    "has a time of day; the column holds dates only",
                ),
                (f"NOT {_full(text, day)}", "not a date (YYYY-MM-DD)"),
                (f"{value} IS NULL", "not a valid calendar date"),
                (f"NOT {value} BETWEEN {_FIRST_DAY} AND {_LAST_DAY}", f"a date {_YEARS}"),
                fast=f"{_reads_back(text, 'DATE')} AND {_four_digit_year(text)}",
            ),
        )
    if target in ("timestamp", "timestamptz"):
        with_offset = f"regexp_matches({text}, {literal(_WITH_OFFSET)})"
        aware = f"TRY_CAST({text} AS TIMESTAMPTZ)"
        # An offset needs '+', 'Z' or a '-' after the date: only then is the regular expression asked
        # (no lower(): it would copy every value of the column).
        maybe_offset = (
            f"(contains({text}, '+') OR contains({text}, 'Z') OR contains({text}, 'z') "
            f"OR contains(substr({text}, 11), '-'))"
        )
        naive = (
            f"CASE WHEN {maybe_offset} AND {with_offset} THEN CAST({aware} AS TIMESTAMP) "
            f"ELSE TRY_CAST({text} AS TIMESTAMP) END"
        )
        value = naive if target == "timestamp" else aware
        return Cast(
            value,
            _text_case(
                text,
                (f"NOT {_full(text, _TIMESTAMP)}", "not a timestamp (YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM])"),
                (_offset_beyond(text), "a UTC offset beyond ±18:00, which no time zone has"),
                (f"regexp_matches({text}, {literal(_SUB_MICROSECOND)})", _TOO_PRECISE),
                (f"{naive} IS NULL", "not a valid calendar date and time"),
                (f"NOT {naive} BETWEEN {_FIRST_MOMENT} AND {_LAST_MOMENT}", f"a timestamp {_YEARS}"),
                fast=f"{_reads_back_timestamp(text)} AND {_four_digit_year(text)}",
            ),
        )
    raise ValueError(f"unknown type {target!r}")


_FRACTIONAL = "a fraction where {} holds whole numbers (never rounded)"


def _offset_beyond(text: str) -> str:
    """SQL: the text ends in a UTC offset past ±18:00 or with minutes past 59 (DuckDB takes +99:00)."""
    hours, minutes = (
        f"TRY_CAST(nullif(regexp_extract({text}, {literal(_OFFSET_PARTS)}, {group}), '') AS INTEGER)"
        for group in (1, 2)
    )
    return f"coalesce({hours} * 60 + coalesce({minutes}, 0) > 18 * 60 OR {minutes} > 59, FALSE)"


_TOO_PRECISE = "more precise than microseconds (never truncated)"


def _from_integer(source: str, target: str) -> Cast:
    sql_type = duckdb_type(target)
    value = f"TRY_CAST({source} AS {sql_type})"
    if target in ("int", "long") or DECIMAL_TYPE.match(target):
        what = f"out of range for {target}" + (f" ({_RANGES[target]})" if target in _RANGES else "")
        return Cast(value, _case(source, (f"{value} IS NULL", what)))
    if target in ("float", "double"):
        exact = f"TRY_CAST({value} AS HUGEINT) = {source}"
        return Cast(
            value,
            _case(
                source,
                (
                    f"{value} IS NULL OR NOT coalesce({exact}, FALSE)",
                    f"too many digits for {target} (would be rounded)",
                ),
            ),
        )
    if target == "boolean":
        return Cast(
            f"{source} <> 0",
            _case(source, (f"{source} NOT IN (0, 1)", "a number other than 0 or 1, not a boolean")),
        )
    return Cast(f"CAST(NULL AS {sql_type})", _case(source, ("TRUE", f"a number, not a {target}")))


def _from_float(source: str, kind: str, target: str) -> Cast:
    sql_type = duckdb_type(target)
    value = f"TRY_CAST({source} AS {sql_type})"
    not_finite = f"NOT isfinite({source})"
    if target in ("float", "double"):
        overflow = f"isfinite({source}) AND NOT coalesce(isfinite({value}), FALSE)"
        return Cast(value, _case(source, (overflow, f"out of range for {target}")))
    if target in ("int", "long"):
        return Cast(
            value,
            _case(
                source,
                (not_finite, f"NaN or Infinity is not a whole number ({target})"),
                (f"{source} <> trunc({source})", _FRACTIONAL.format(target)),
                (f"{value} IS NULL", f"out of range for {target} ({_RANGES[target]})"),
            ),
        )
    decimal = DECIMAL_TYPE.match(target)
    if decimal:
        scale, whole = int(decimal.group(2)), int(decimal.group(1)) - int(decimal.group(2))
        # The decimal must give back the very same binary number, else digits were rounded away.
        same = f"CAST({value} AS {kind}) = {source}"
        return Cast(
            value,
            _case(
                source,
                (not_finite, "NaN or Infinity has no decimal value"),
                (f"{value} IS NULL", f"more than {whole} digits before the decimal point for {target}"),
                (f"NOT ({same})", f"more than {scale} decimal places for {target} (never rounded)"),
            ),
        )
    return Cast(f"CAST(NULL AS {sql_type})", _case(source, ("TRUE", f"a number, not a {target}")))


def _from_decimal(source: str, target: str) -> Cast:
    sql_type = duckdb_type(target)
    value = f"TRY_CAST({source} AS {sql_type})"
    if target in ("float", "double"):
        return Cast(value, "CAST(NULL AS VARCHAR)")
    if target in ("int", "long"):
        return Cast(
            value,
            _case(
                source,
                (f"{source} <> trunc({source})", _FRACTIONAL.format(target)),
                (f"{value} IS NULL", f"out of range for {target} ({_RANGES[target]})"),
            ),
        )
    decimal = DECIMAL_TYPE.match(target)
    if decimal:
        scale, whole = int(decimal.group(2)), int(decimal.group(1)) - int(decimal.group(2))
        return Cast(
            value,
            _case(
                source,
                (f"{value} IS NULL", f"more than {whole} digits before the decimal point for {target}"),
                (f"{value} <> {source}", f"more than {scale} decimal places for {target} (never rounded)"),
            ),
        )
    return Cast(f"CAST(NULL AS {sql_type})", _case(source, ("TRUE", f"a number, not a {target}")))


def _from_temporal(source: str, kind: str, target: str) -> Cast:
    sql_type = duckdb_type(target)
    if target not in ("date", "timestamp", "timestamptz"):
        return Cast(f"CAST(NULL AS {sql_type})", _case(source, ("TRUE", f"a {kind.lower()}, not {target}")))
    moment = f"CAST({source} AS TIMESTAMP)"  # UTC wall time: the connection's time zone is UTC
    branches: list[tuple[str, str]] = []
    if kind == "TIMESTAMP_NS":
        branches.append((f"epoch_ns({source}) % 1000 <> 0", _TOO_PRECISE))
    if target == "date":
        if kind != "DATE":
            branches.append(
                (
                    f"{moment} <> CAST(CAST({source} AS DATE) AS TIMESTAMP)",
                    "has a time of day; the column holds dates only",
                )
            )
        value = f"CAST({source} AS DATE)"
        branches.append((f"NOT {moment} BETWEEN {_FIRST_MOMENT} AND {_LAST_MOMENT}", f"a date {_YEARS}"))
        return Cast(value, _case(source, *branches))
    branches.append((f"NOT {moment} BETWEEN {_FIRST_MOMENT} AND {_LAST_MOMENT}", f"a timestamp {_YEARS}"))
    value = moment if target == "timestamp" else f"CAST({moment} AS TIMESTAMPTZ)"
    return Cast(value, _case(source, *branches))


def depth_exceeds(text: str | None, limit: int) -> bool:
    """Whether a JSON text nests deeper than `limit` levels (iterative: any depth is safe to scan)."""
    if not text:
        return False
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False
