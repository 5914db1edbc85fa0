"""Expectation suites: parses `expectations/<namespace>.<table>.json` (GX 1.x format) and checks it early.

Parsing needs no Great Expectations import (it takes seconds), so a broken suite fails when
Dagster loads the definitions, naming the file and the expectation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dagster_project.errors import FoundationError
from dagster_project.quality.gx_core import GX_CORE
from dagster_project.quality.suite_types import check_types
from dagster_project.settings import PROJECT_DIR

EXPECTATIONS_DIR = PROJECT_DIR / "expectations"
ACTIONS = ("fail", "warn", "drop")
DIMENSIONS = ("completeness", "uniqueness", "validity", "consistency", "timeliness")

# GX 1.x expectation types: the kwargs each needs, and whether it judges single rows (row-level:
# it can `drop` the rows it rejects). These are compiled to DuckDB SQL (quality/compile.py,
# aggregates.py); any other GX core type runs through GX's own engine (quality/gx_fallback.py).
_C, _AB, _LIST = ("column",), ("column_A", "column_B"), ("column_list",)
ROW_LEVEL: dict[str, tuple[str, ...]] = {
    "expect_column_values_to_be_null": _C,
    "expect_column_values_to_not_be_null": _C,
    "expect_column_values_to_be_unique": _C,
    "expect_column_values_to_be_between": _C,
    "expect_column_values_to_be_in_set": (*_C, "value_set"),
    "expect_column_values_to_not_be_in_set": (*_C, "value_set"),
    "expect_column_values_to_match_regex": (*_C, "regex"),
    "expect_column_values_to_not_match_regex": (*_C, "regex"),
    "expect_column_values_to_match_regex_list": (*_C, "regex_list"),
    "expect_column_values_to_not_match_regex_list": (*_C, "regex_list"),
    "expect_column_values_to_match_like_pattern": (*_C, "like_pattern"),
    "expect_column_values_to_not_match_like_pattern": (*_C, "like_pattern"),
    "expect_column_values_to_match_like_pattern_list": (*_C, "like_pattern_list"),
    "expect_column_values_to_not_match_like_pattern_list": (*_C, "like_pattern_list"),
    "expect_column_value_lengths_to_be_between": _C,
    "expect_column_value_lengths_to_equal": (*_C, "value"),
    "expect_column_values_to_be_increasing": _C,
    "expect_column_values_to_be_decreasing": _C,
    "expect_column_pair_values_to_be_equal": _AB,
    "expect_column_pair_values_a_to_be_greater_than_b": _AB,
    "expect_compound_columns_to_be_unique": _LIST,
    "expect_select_column_values_to_be_unique_within_record": _LIST,
    "expect_multicolumn_sum_to_equal": (*_LIST, "sum_total"),
    "unexpected_rows_expectation": ("unexpected_rows_query",),
}
AGGREGATE: dict[str, tuple[str, ...]] = {
    "expect_column_min_to_be_between": _C,
    "expect_column_max_to_be_between": _C,
    "expect_column_mean_to_be_between": _C,
    "expect_column_median_to_be_between": _C,
    "expect_column_sum_to_be_between": _C,
    "expect_column_stdev_to_be_between": _C,
    "expect_column_quantile_values_to_be_between": (*_C, "quantile_ranges"),
    "expect_column_distinct_values_to_be_in_set": (*_C, "value_set"),
    "expect_column_distinct_values_to_contain_set": (*_C, "value_set"),
    "expect_column_distinct_values_to_equal_set": (*_C, "value_set"),
    "expect_column_unique_value_count_to_be_between": _C,
    "expect_column_proportion_of_unique_values_to_be_between": _C,
    "expect_column_most_common_value_to_be_in_set": (*_C, "value_set"),
    "expect_column_values_to_be_of_type": (*_C, "type_"),
    "expect_column_values_to_be_in_type_list": (*_C, "type_list"),
    "expect_table_row_count_to_be_between": (),
    "expect_table_row_count_to_equal": ("value",),
    "expect_table_row_count_to_equal_other_table": ("other_table_name",),
    "expect_table_column_count_to_be_between": (),
    "expect_table_column_count_to_equal": ("value",),
    "expect_table_columns_to_match_ordered_list": ("column_list",),
    "expect_table_columns_to_match_set": ("column_set",),
    "expect_column_to_exist": _C,
}
COMPILED = {**ROW_LEVEL, **AGGREGATE}
# Every GX core type is accepted; GX's own models check the kwargs of those we do not compile.
SUPPORTED = {**dict.fromkeys(GX_CORE, ()), **COMPILED}
PARAMETERS = ("now", "freshness_floor")
IGNORE_ROW_IF = ("all_values_are_missing", "any_value_is_missing", "never")
_TABLE_REFERENCE = re.compile(r"\{(raw|staging|curated|ops)\.([a-z][a-z0-9_]*)\}")
_TABLE_NAME = re.compile(r"(raw|staging|curated|ops)\.([a-z][a-z0-9_]*)")


class SuiteError(FoundationError, ValueError):
    """A suite file is malformed; the message names the file, the expectation and the fix."""


class SuiteTypeError(SuiteError):
    """An expectation does not fit its column's declared type: it would fail, or never match, at run time."""


@dataclass(frozen=True)
class Expectation:
    """One expectation of a suite, with what failing it does."""

    index: int
    type: str
    kwargs: dict[str, Any]
    action: str = "fail"
    dimension: str | None = None
    against_table: bool = False  # uniqueness also against the published table (main)
    description: str = ""
    check_name: str | None = None

    @property
    def column(self) -> str | None:
        return self.kwargs.get("column")

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column it reads: its `column`, or the `column_list` of a compound key."""
        if "column_list" in self.kwargs:
            return tuple(self.kwargs["column_list"])
        return (self.column,) if self.column else ()

    @property
    def name(self) -> str:
        """The check name: `meta.name`, else derived (`order_id_not_null`, `row_count_between`)."""
        if self.check_name:
            return self.check_name
        if self.type == "expect_compound_columns_to_be_unique":
            return re.sub(r"[^a-z0-9_]+", "_", "_".join(self.columns).lower() + "_unique")
        short = self.type.removeprefix("expect_").removeprefix("column_values_to_").removeprefix("table_")
        short = short.replace("column_", "").replace("to_", "").replace("be_", "")
        base = f"{self.column}_{short}" if self.column else short
        return re.sub(r"[^a-z0-9_]+", "_", base.lower())

    @property
    def tables_read(self) -> list[str]:
        """Other tables an `unexpected_rows_query` reads (`{raw.customers}`): read at main's head."""
        query = self.kwargs.get("unexpected_rows_query", "")
        found = [f"{ns}.{name}" for ns, name in _TABLE_REFERENCE.findall(query)]
        other = self.kwargs.get("other_table_name")  # expect_table_row_count_to_equal_other_table
        return found + ([other] if isinstance(other, str) and _TABLE_NAME.fullmatch(other) else [])


@dataclass(frozen=True)
class Suite:
    """A table's suite: its file and its expectations."""

    path: Path
    name: str
    expectations: tuple[Expectation, ...] = field(default_factory=tuple)

    @property
    def file(self) -> str:
        try:
            return self.path.relative_to(PROJECT_DIR).as_posix()
        except ValueError:
            return str(self.path)


def suite_path(table: str, directory: Path = EXPECTATIONS_DIR) -> Path:
    return directory / f"{table}.json"


def load_suite(table: str, columns: set[str] | Mapping[str, str | None], directory: Path) -> Suite | None:
    """The suite gating `table`, or None when it has none (the table is then not gated).

    `columns` maps each column to its declared type when known: every expectation is then checked
    against it (see `parse_suite`).
    """
    path = suite_path(table, directory)
    return parse_suite(path, columns, table) if path.exists() else None


def _fail(path: Path, where: str, message: str) -> SuiteError:
    return SuiteError(f"{path}: {where}: {message}")


def _check_parameters(path: Path, where: str, kwargs: dict[str, Any]) -> None:
    for key, value in kwargs.items():
        if isinstance(value, dict) and set(value) == {"$PARAMETER"} and value["$PARAMETER"] not in PARAMETERS:
            raise _fail(
                path,
                where,
                f"kwargs.{key}: unknown suite parameter {value['$PARAMETER']!r}; use one of {PARAMETERS}",
            )


def _check_column_list(
    path: Path, where: str, kwargs: dict[str, Any], columns: Mapping[str, Any], table: str
):
    listed = kwargs["column_list"]
    if not isinstance(listed, list) or not listed or not all(isinstance(c, str) for c in listed):
        raise _fail(path, where, "column_list must be a non-empty list of column names")
    for name in listed:
        if name not in columns:
            raise _fail(path, where, f"column {name!r} of column_list does not exist in {table}")
    if kwargs.get("ignore_row_if", IGNORE_ROW_IF[0]) not in IGNORE_ROW_IF:
        raise _fail(path, where, f"ignore_row_if must be one of {', '.join(IGNORE_ROW_IF)}")


def parse_suite(path: Path, columns: set[str] | Mapping[str, str | None], table: str) -> Suite:
    """Parse and check one suite file.

    Args:
        path: The suite JSON file.
        columns: Columns the table has (declared and lineage); every `column` kwarg must be one.
            A mapping gives each column's declared type (registry or SQL name; None: unknown), and
            each expectation is checked against it: a range on text, a regex on a number, a set
            of values that are not of the column's type.
        table: The table the suite gates (its `name` must match).

    Returns:
        The suite.

    Raises:
        SuiteError: Not JSON, not a GX 1.x suite, an unsupported expectation type, a missing
            kwarg, an unknown column or action.
        SuiteTypeError: An expectation does not fit its column's declared type.
    """
    types: Mapping[str, str | None] = columns if isinstance(columns, Mapping) else dict.fromkeys(columns)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SuiteError(f"{path}: no suite for {table}; write one (see README, 'Quality gates')") from exc
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path}: not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("expectations"), list):
        raise SuiteError(f"{path}: expected a GX suite: {{'name': ..., 'expectations': [...]}}")
    if document.get("name") != table:
        raise SuiteError(f"{path}: suite name {document.get('name')!r} must be the table name {table!r}")
    expectations = []
    for index, raw in enumerate(document["expectations"]):
        where = f"expectations[{index}]"
        if not isinstance(raw, dict) or "type" not in raw:
            raise _fail(path, where, "each expectation needs a 'type' and 'kwargs'")
        kind = raw["type"]
        where = f"expectations[{index}] ({kind})"
        if kind not in SUPPORTED:
            raise _fail(
                path,
                where,
                f"unknown or unsupported expectation type; supported: {', '.join(sorted(SUPPORTED))}",
            )
        kwargs = raw.get("kwargs") or {}
        missing = [k for k in SUPPORTED[kind] if k not in kwargs]
        if missing:
            raise _fail(path, where, f"missing kwargs: {', '.join(missing)}")
        meta = raw.get("meta") or {}
        if meta.get("name"):
            where += f" named {meta['name']!r}"
        for key in ("column", "column_A", "column_B"):
            if key in kwargs and kind != "expect_column_to_exist" and kwargs[key] not in types:
                raise _fail(path, where, f"column {kwargs[key]!r} does not exist in {table}")
        if "column_list" in SUPPORTED[kind] and kind in ROW_LEVEL:  # a table's list may name absent ones
            _check_column_list(path, where, kwargs, types, table)
        _check_parameters(path, where, kwargs)
        mismatch = check_types(kind, kwargs, types, table)
        if mismatch is not None:
            raise SuiteTypeError(f"{path}: {where}: {mismatch[0]}; fix: {mismatch[1]}")
        action = meta.get("action", "fail")
        if action not in ACTIONS:
            raise _fail(path, where, f"meta.action must be one of {', '.join(ACTIONS)}, got {action!r}")
        if action == "drop" and kind not in ROW_LEVEL:
            raise _fail(path, where, "'drop' needs a row-level expectation; use 'fail' or 'warn'")
        if meta.get("name") is not None and not re.fullmatch(r"[a-z][a-z0-9_]*", str(meta["name"])):
            raise _fail(path, where, "meta.name must be lower_snake_case (it names the Dagster check)")
        dimension = meta.get("dimension")
        if dimension is not None and dimension not in DIMENSIONS:
            raise _fail(path, where, f"meta.dimension must be one of {', '.join(DIMENSIONS)}")
        if kind == "unexpected_rows_expectation" and "{batch}" not in kwargs["unexpected_rows_query"]:
            raise _fail(path, where, "unexpected_rows_query must select from {batch}")
        expectation = Expectation(
            index=index,
            type=kind,
            kwargs=kwargs,
            action=action,
            dimension=dimension,
            against_table=bool(meta.get("against_table", False)),
            description=str(meta.get("notes") or kwargs.get("description") or ""),
            check_name=meta.get("name"),
        )
        if action == "drop" and (expectation.against_table or expectation.tables_read):
            raise _fail(
                path, where, "'drop' works on the batch alone; checks against tables must 'fail' or 'warn'"
            )
        expectations.append(expectation)
    names = [e.name for e in expectations]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SuiteError(f"{path}: two expectations share the check name(s) {duplicates}; keep one of each")
    return Suite(path=path, name=table, expectations=tuple(expectations))
