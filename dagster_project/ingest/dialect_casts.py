"""Exact casts under a dataset's declared dialect: decimal comma, date and timestamp formats, a zone.

Each builds on the exact casts of `casts.py`: a value fits exactly or its row is set apart with a
reason that names the declaration (the format, the zone), never the value, never rounded or guessed.
A naive timestamp in a declared zone is stored as UTC: the instant in a `timestamptz` column, its UTC
wall time in a `timestamp` column; a local time the zone skips or repeats (daylight saving) is set
apart rather than moved to a guessed instant.
"""

from __future__ import annotations

from dagster_project.ingest.casts import (
    _FIRST_DAY,
    _FIRST_MOMENT,
    _LAST_DAY,
    _LAST_MOMENT,
    _SPACE,
    _WITH_OFFSET,
    _YEARS,
    DECIMAL_TYPE,
    TIMESTAMPS,
    Cast,
    _full,
    _text_case,
    cast_column,
    literal,
)
from dagster_project.registry import Dialect

_PLAIN = Dialect()
# With a decimal comma, '.' may group thousands (1.234.567,89) and only in threes: '1.5' is refused,
# not read as fifteen or as one and a half.
_CONTINENTAL = r"[+-]?(([0-9]{1,3}(\.[0-9]{3})+|[0-9]+)(,[0-9]*)?|,[0-9]+)"
_NOT_FINITE = r"[+-]?(nan|inf|infinity)"
# Daylight-saving shifts: a local time is ambiguous when the same wall time occurs this far apart.
_SHIFTS = ("30 MINUTES", "1 HOUR")


def dialect_cast(source: str, source_type: str | None, target: str, dialect: Dialect) -> Cast:
    """The exact cast of one landed column to a registry type, under the dataset's dialect.

    Args:
        source: SQL for the landed value.
        source_type: Its DuckDB type; None or VARCHAR for text (CSV fields, JSON values as text).
        target: The registry type.
        dialect: The dataset's `csv: decimal` and `formats: {date, timestamp, timezone}`.

    Returns:
        The value expression and the problem expression (NULL when the value fits).
    """
    kind = (source_type or "VARCHAR").upper()
    if target == "string" or dialect == _PLAIN:
        return cast_column(source, source_type, target)
    if kind == "VARCHAR":
        if dialect.decimal == "," and (
            target in ("int", "long", "float", "double") or DECIMAL_TYPE.match(target)
        ):
            return _decimal_comma(source, target)
        if target == "date" and dialect.date_format:
            return _formatted_date(source, dialect.date_format)
        if target in ("timestamp", "timestamptz") and dialect.timestamp_format:
            return _formatted_timestamp(source, target, dialect.timestamp_format, dialect.timezone)
        if target in ("timestamp", "timestamptz") and dialect.timezone:
            return _iso_in_zone(source, target, dialect.timezone)
    elif kind in TIMESTAMPS and target in ("timestamp", "timestamptz") and dialect.timezone:
        base = cast_column(source, source_type, target)
        zoned = _zoned(f"CAST({source} AS TIMESTAMP)", target, dialect.timezone)
        return Cast(zoned.value, f"coalesce({base.problem}, {zoned.problem})")
    return cast_column(source, source_type, target)


def _decimal_comma(text: str, target: str) -> Cast:
    floating = target in ("float", "double")
    number = f"({_CONTINENTAL}([eE][+-]?[0-9]+)?|{_NOT_FINITE})" if floating else _CONTINENTAL
    written = _full(text, f"{_SPACE}{number}{_SPACE}", "i")
    plain = f"replace(replace(trim({text}, ' \t'), '.', ''), ',', '.')"
    inner = cast_column(plain, None, target)
    reason = f"not a number written with ',' as the decimal point ({target}, e.g. 1.234,56)"
    return Cast(inner.value, _problems(text, (f"NOT {written}", literal(reason)), otherwise=inner.problem))


def _problems(text: str, *branches: tuple[str, str], otherwise: str = "NULL") -> str:
    """CASE over (condition, reason as SQL) pairs, then `otherwise`; NULL for a missing or blank value."""
    whens = " ".join(f"WHEN {condition} THEN {reason}" for condition, reason in branches)
    return f"CASE WHEN {text} IS NULL OR trim({text}, ' \t') = '' THEN NULL {whens} ELSE {otherwise} END"


def _formatted_date(text: str, fmt: str) -> Cast:
    parsed = f"CAST(try_strptime(trim({text}, ' \t'), {literal(fmt)}) AS TIMESTAMP)"
    day = f"CAST({parsed} AS DATE)"
    return Cast(
        day,
        _text_case(
            text,
            (f"{parsed} IS NULL", f"not a date in the declared format {fmt} (formats: date)"),
            (f"{parsed} <> CAST({day} AS TIMESTAMP)", "has a time of day; the column holds dates only"),
            (f"NOT {day} BETWEEN {_FIRST_DAY} AND {_LAST_DAY}", f"a date {_YEARS}"),
        ),
    )


def _formatted_timestamp(text: str, target: str, fmt: str, zone: str | None) -> Cast:
    parsed = f"try_strptime(trim({text}, ' \t'), {literal(fmt)})"
    unparsed = (f"{parsed} IS NULL", f"not a timestamp in the declared format {fmt} (formats: timestamp)")
    if "%z" in fmt or "%Z" in fmt:  # the value carries its offset: an instant, whatever the zone
        wall = f"CAST({parsed} AS TIMESTAMP)"  # UTC wall time: the connection's time zone is UTC
        value = wall if target == "timestamp" else parsed
        years = (f"NOT {wall} BETWEEN {_FIRST_MOMENT} AND {_LAST_MOMENT}", f"a timestamp {_YEARS}")
        return Cast(value, _text_case(text, unparsed, years))
    zoned = _zoned(parsed, target, zone)
    return Cast(zoned.value, _problems(text, (unparsed[0], literal(unparsed[1])), otherwise=zoned.problem))


def _iso_in_zone(text: str, target: str, zone: str) -> Cast:
    """ISO 8601 text: a value with an offset is that instant; one without is local time in `zone`."""
    base = cast_column(text, None, target)
    has_offset = f"regexp_matches({text}, {literal(_WITH_OFFSET)})"
    zoned = _zoned(f"TRY_CAST({text} AS TIMESTAMP)", target, zone)
    return Cast(
        f"CASE WHEN {has_offset} THEN {base.value} ELSE {zoned.value} END",
        f"coalesce({base.problem}, CASE WHEN NOT {has_offset} THEN {zoned.problem} END)",
    )


def _zoned(local: str, target: str, zone: str | None) -> Cast:
    """A naive timestamp taken as local time in `zone` (None: UTC), stored as UTC."""
    if zone is None:
        value = local if target == "timestamp" else f"CAST({local} AS TIMESTAMPTZ)"
        years = f"NOT {local} BETWEEN {_FIRST_MOMENT} AND {_LAST_MOMENT}"
        return Cast(value, f"CASE WHEN {years} THEN {literal(f'a timestamp {_YEARS}')} END")
    z = literal(zone)
    instant = f"timezone({z}, {local})"
    wall = f"CAST({instant} AS TIMESTAMP)"  # UTC wall time: the connection's time zone is UTC
    twice = " OR ".join(
        f"timezone({z}, {instant} {sign} INTERVAL {shift}) = {local}" for shift in _SHIFTS for sign in "-+"
    )
    skipped = literal(f"a local time that does not exist in {zone} (the clocks moved forward over it)")
    repeated = literal(
        f"a local time that occurs twice in {zone} (the clocks went back); give its UTC offset"
    )
    years = literal(f"a timestamp {_YEARS}")
    problem = (
        f"CASE WHEN {local} IS NULL THEN NULL "
        f"WHEN NOT {local} BETWEEN {_FIRST_MOMENT} AND {_LAST_MOMENT} THEN {years} "
        f"WHEN timezone({z}, {instant}) <> {local} THEN {skipped} "
        f"WHEN {twice} THEN {repeated} "
        f"WHEN NOT {wall} BETWEEN {_FIRST_MOMENT} AND {_LAST_MOMENT} THEN {years} END"
    )
    return Cast(wall if target == "timestamp" else instant, problem)
