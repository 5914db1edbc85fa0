"""How a landed file's columns meet the table's: matched by name, read as text once, cast exactly.

`match_to_table` binds landed columns to table columns by name, `prepared` computes each landed
column's text once, and `column_cast` is the exact cast of one column (`casts.py`), with the
checks only JSON needs (nesting, lists and objects, numbers a double cannot keep).
"""

from __future__ import annotations

from dataclasses import replace

from dagster_project.ingest.casts import Cast, literal
from dagster_project.ingest.dialect_casts import dialect_cast
from dagster_project.ingest.sources import FileRejected, LandedColumn, quote, source_column
from dagster_project.registry import Dataset


def landed_text(source: str) -> str:
    """A JSON value as text: a string unquoted, anything else as written."""
    return (
        f"CASE WHEN json_type({source}) = 'VARCHAR' THEN json_extract_string({source}, '$') "
        f"ELSE CAST({source} AS VARCHAR) END"
    )


def prepared(dataset: Dataset, reader: str, columns: list[LandedColumn]) -> str:
    """The file as a relation with, per landed column i, its text `x<i>`.

    It is computed once here, however many checks and casts read it above.
    """
    if dataset.format == "parquet":
        return reader
    sources = [source_column(dataset, i, c) for i, c in enumerate(columns)]
    if dataset.format == "jsonl":
        sources = [landed_text(source) for source in sources]
    texts = ", ".join(f"{source} AS {quote(f'x{i}')}" for i, source in enumerate(sources))
    return f"(SELECT *, {texts} FROM {reader})"


def column_cast(
    dataset: Dataset, index: int, column: LandedColumn, target: str, max_nesting_depth: int
) -> Cast:
    """The exact cast of landed column `index` (see `prepared`), with JSON's own checks."""
    if dataset.format == "parquet":
        return dialect_cast(
            source_column(dataset, index, column), column.source_type, target, dataset.dialect
        )
    text = quote(f"x{index}")
    cast = dialect_cast(text, None, target, dataset.dialect)
    if dataset.format != "jsonl":
        return cast
    source = source_column(dataset, index, column)
    nested = f"json_type({source}) IN ('ARRAY', 'OBJECT')"
    brackets = f"length({text}) - length(replace(replace({text}, '[', ''), '{{', ''))"
    too_deep = (
        f"{nested} AND {brackets} > {max_nesting_depth} AND nested_deeper_than({text}, {max_nesting_depth})"
    )
    reason = f"nested deeper than {max_nesting_depth} levels (FOUNDATION_MAX_NESTING_DEPTH)"
    # JSON parsers read numbers as doubles: past 15 significant digits the text DuckDB gives back may
    # already be rounded, so such a number cannot be trusted to be exact (whole numbers it keeps as
    # written: their text has no point or exponent).
    digits = f"length(trim(regexp_replace(split_part(lower({text}), 'e', 1), '[^0-9]', '', 'g'), '0'))"
    inexact = literal("a JSON number with more digits than a double keeps exactly; send it as a string")
    if target == "string":
        rounded = f"json_type({source}) = 'DOUBLE' AND regexp_matches({text}, '[.eE]') AND {digits} > 15"
        problem = (
            f"CASE WHEN {too_deep} THEN {literal(reason)} WHEN {rounded} THEN {inexact} "
            f"ELSE {cast.problem} END"
        )
    elif target in ("int", "long") or target.startswith("decimal"):
        not_scalar = literal(f"a JSON list or object, not {target}")
        problem = (
            f"CASE WHEN {nested} THEN {not_scalar} ELSE coalesce({cast.problem}, "
            f"CASE WHEN json_type({source}) = 'DOUBLE' AND {digits} > 15 THEN {inexact} END) END"
        )
    else:
        not_scalar = literal(f"a JSON list or object, not {target}")
        problem = f"CASE WHEN {nested} THEN {not_scalar} ELSE {cast.problem} END"
    return Cast(cast.value, problem)


def match_to_table(
    columns: list[LandedColumn], table_columns: dict[str, str], label: str
) -> list[LandedColumn]:
    """Landed columns named like a table column but for `_` (`E-mail` → `e_mail` is `email`) take its name.

    A name is matched case- and punctuation-insensitively: only letters and digits count. Two
    landed columns that come to the same table column make the file ambiguous.
    """
    by_letters: dict[str, list[str]] = {}
    for name in table_columns:
        by_letters.setdefault(name.replace("_", ""), []).append(name)
    taken = {c.name: c for c in columns if c.name in table_columns}
    matched = []
    for column in columns:
        candidates = by_letters.get(column.name.replace("_", ""), [])
        if column.name not in table_columns and len(candidates) == 1:
            name = candidates[0]
            if name in taken:
                raise FileRejected(
                    "duplicate_columns",
                    f"{label}: columns {taken[name].original!r} and {column.original!r} both map to "
                    f"{name!r}; rename one in the file",
                    column=column.original,
                )
            column = replace(column, name=name)
            taken[name] = column
        matched.append(column)
    return matched
