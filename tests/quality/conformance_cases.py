"""The edge-case batches of the GX conformance test: one expectation and one small batch each."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa

# GX implements these only in its SQL engine: the test asks GX's SQLite engine.
SQL_ONLY = {
    "expect_column_values_to_match_like_pattern",
    "expect_column_values_to_not_match_like_pattern",
    "expect_column_values_to_match_like_pattern_list",
    "expect_column_values_to_not_match_like_pattern_list",
    "unexpected_rows_expectation",
    "expect_table_row_count_to_equal_other_table",
}

INT, FLOAT, TEXT, TS = pa.int64(), pa.float64(), pa.string(), pa.timestamp("us")
TSZ = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Case:
    type: str
    name: str
    columns: dict[str, tuple[pa.DataType, list[Any]]]
    kwargs: dict[str, Any] = field(default_factory=dict)
    other_rows: int | None = None


def ints(*values):
    return {"x": (INT, list(values))}


def floats(*values):
    return {"x": (FLOAT, list(values))}


def texts(*values):
    return {"x": (TEXT, list(values))}


def pair(a, b, type_=INT):
    return {"a": (type_, list(a)), "b": (type_, list(b))}


P = {"$PARAMETER": "low"}
UNICODE = texts("é", "Straße", "日本語", None, "abc", "ABC", "a\nb", "x1\n")
EMPTY_INT, EMPTY_TEXT = ints(), texts()
NULLS = ints(1, None, None, 4)
ZONE = timezone(timedelta(hours=2))
ZONED = {"x": (TSZ, [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC), None])}
NAIVE = {"x": (TS, [datetime(2024, 1, 1), datetime(2024, 7, 1), None])}

CASES: list[Case] = []


def case(kind: str, name: str, columns, **kwargs) -> None:
    other = kwargs.pop("_other_rows", None)
    CASES.append(Case(kind, name, columns, kwargs, other))


# Column map expectations: nulls leave the domain, unexpected_percent is over non-null values.
for t in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_null"):
    case(t, "nulls", NULLS, column="x")
    case(t, "empty", EMPTY_INT, column="x")
    case(t, "mostly", NULLS, column="x", mostly=0.5)
    case(t, "all_null", ints(None, None), column="x")
    case(t, "unicode", UNICODE, column="x")
t = "expect_column_values_to_be_unique"
case(t, "nulls_not_duplicates", ints(1, None, None, 2), column="x")
case(t, "duplicates", ints(1, 2, 2, 3, 3, 3), column="x")
case(t, "mostly", ints(1, 2, 2, 3, 4, 5), column="x", mostly=0.6)
case(t, "empty", EMPTY_INT, column="x")
case(t, "unicode", texts("é", "é", "e", None), column="x")
t = "expect_column_values_to_be_between"
case(t, "inclusive", ints(1, 5, 10, None), column="x", min_value=1, max_value=5)
case(
    t, "strict", ints(1, 5, 10, None), column="x", min_value=1, max_value=10, strict_min=True, strict_max=True
)
case(t, "min_only", floats(0.5, -1.0, None), column="x", min_value=0)
case(t, "mostly", ints(1, 2, 3, 40), column="x", max_value=3, mostly=0.75)
case(t, "empty", EMPTY_INT, column="x", min_value=0)
case(t, "parameter", ints(1, 2, 3), column="x", min_value=P)
case(t, "timestamp_string", NAIVE, column="x", min_value="2024-02-01", max_value="2024-12-31")
case(t, "zoned_string", ZONED, column="x", max_value="2024-02-01T02:00:00+02:00")
case(t, "naive_parameter", NAIVE, column="x", max_value={"$PARAMETER": "now"})
for t in (
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_not_be_in_set",
):
    case(t, "ints", ints(1, 2, 3, None), column="x", value_set=[1, 2])
    case(t, "mixed_types", ints(1, 2, 3), column="x", value_set=[1, "2", 3.0])
    case(t, "unicode", UNICODE, column="x", value_set=["é", "Straße", "abc"])
    case(t, "empty_set", ints(1, None), column="x", value_set=[])
    case(t, "empty", EMPTY_TEXT, column="x", value_set=["a"])
    case(t, "mostly", ints(1, 1, 1, 2), column="x", value_set=[1], mostly=0.7)
REGEX_CASES = {
    "anchored": r"^[a-z]+$",
    "search": r"b",
    "unicode_word": r"^\w+$",
    "digit": r"\d",
    "dollar_before_newline": r"1$",
    "lookahead": r"^(?=.*b)",
    "backreference": r"(.)\1",
    "ignorecase": r"(?i)^abc$",
    "unicode_literal": "ß",
    "alternation": r"^(abc|é)$",
}
for t in ("expect_column_values_to_match_regex", "expect_column_values_to_not_match_regex"):
    for name, pattern in REGEX_CASES.items():
        case(t, name, UNICODE, column="x", regex=pattern)
    case(t, "empty", EMPTY_TEXT, column="x", regex="a")
    case(t, "mostly", UNICODE, column="x", regex="a", mostly=0.3)
t = "expect_column_values_to_match_regex_list"
case(t, "any", UNICODE, column="x", regex_list=[r"^\w+$", "b"], match_on="any")
case(t, "all", UNICODE, column="x", regex_list=[r"^\w+$", "b"], match_on="all")
case(t, "unicode", UNICODE, column="x", regex_list=["ß", "日"])
t = "expect_column_values_to_not_match_regex_list"
case(t, "any", UNICODE, column="x", regex_list=[r"\d", "é"])
case(t, "lookbehind", UNICODE, column="x", regex_list=[r"(?<=a)b"])
LIKE = texts("abc", "ABC", "a_c", "a%c", None, "日本")
for t, key in (
    ("expect_column_values_to_match_like_pattern", "like_pattern"),
    ("expect_column_values_to_not_match_like_pattern", "like_pattern"),
):
    case(t, "prefix_case_sensitive", LIKE, column="x", **{key: "a%"})
    case(t, "underscore", LIKE, column="x", **{key: "a_c"})
    case(t, "escape", LIKE, column="x", **{key: "a!_c", "escape": "!"})
    case(t, "unicode", LIKE, column="x", **{key: "日%"})
for t in (
    "expect_column_values_to_match_like_pattern_list",
    "expect_column_values_to_not_match_like_pattern_list",
):
    case(t, "two", LIKE, column="x", like_pattern_list=["a%", "%本"])
case(
    "expect_column_values_to_match_like_pattern_list",
    "all",
    LIKE,
    column="x",
    like_pattern_list=["a%", "%c"],
    match_on="all",
)
t = "expect_column_value_lengths_to_be_between"
case(t, "unicode_code_points", UNICODE, column="x", min_value=2, max_value=3)
case(t, "strict", UNICODE, column="x", min_value=1, max_value=6, strict_min=True, strict_max=True)
case(t, "empty", EMPTY_TEXT, column="x", min_value=1)
t = "expect_column_value_lengths_to_equal"
case(t, "unicode", UNICODE, column="x", value=3)
case(t, "mostly", UNICODE, column="x", value=3, mostly=0.5)
for t in ("expect_column_values_to_be_increasing", "expect_column_values_to_be_decreasing"):
    case(t, "ints_with_nulls", ints(1, 2, None, 2, 1, 3), column="x")
    case(t, "strictly", ints(1, 2, None, 2, 1, 3), column="x", strictly=True)
    case(t, "timestamps", NAIVE, column="x")
    case(t, "empty", EMPTY_INT, column="x")
    case(t, "decreasing_floats", floats(3.0, 2.5, 2.5, None, 1.0), column="x")
t = "expect_column_pair_values_to_be_equal"
case(t, "nulls", pair([1, 2, None, None, 3], [1, 3, None, 4, None]), column_A="a", column_B="b")
case(
    t,
    "either_missing",
    pair([1, 2, None, None], [1, 3, None, 4]),
    column_A="a",
    column_B="b",
    ignore_row_if="either_value_is_missing",
)
case(t, "text", pair(["é", "a"], ["é", "A"], TEXT), column_A="a", column_B="b")
t = "expect_column_pair_values_a_to_be_greater_than_b"
case(t, "nulls", pair([2, 2, None, None, 3], [1, 2, None, 4, None]), column_A="a", column_B="b")
case(t, "or_equal", pair([2, 2, 1], [1, 2, 2]), column_A="a", column_B="b", or_equal=True)
case(t, "mostly", pair([2, 2, 1, 5], [1, 2, 2, 4]), column_A="a", column_B="b", mostly=0.5)
TRIPLE = {
    "a": (INT, [1, 1, None, 2, None, 1]),
    "b": (INT, [2, 2, None, 1, None, 2]),
    "c": (INT, [3, 3, None, 1, 5, None]),
}
t = "expect_compound_columns_to_be_unique"
case(t, "nulls_equal", TRIPLE, column_list=["a", "b"])
case(t, "three", TRIPLE, column_list=["a", "b", "c"])
case(t, "any_missing", TRIPLE, column_list=["a", "b", "c"], ignore_row_if="any_value_is_missing")
t = "expect_select_column_values_to_be_unique_within_record"
case(t, "nulls", TRIPLE, column_list=["a", "b", "c"])
case(t, "two", TRIPLE, column_list=["b", "c"])
t = "expect_multicolumn_sum_to_equal"
case(t, "nulls", TRIPLE, column_list=["a", "b"], sum_total=3)
case(t, "three", TRIPLE, column_list=["a", "b", "c"], sum_total=6)

# Aggregates: the metric over non-null values, judged as GX's _validate_metric_value_between.
for t in (
    "expect_column_min_to_be_between",
    "expect_column_max_to_be_between",
    "expect_column_mean_to_be_between",
    "expect_column_median_to_be_between",
    "expect_column_sum_to_be_between",
    "expect_column_stdev_to_be_between",
):
    case(t, "ints", ints(1, 2, 3, 10, None), column="x", min_value=1, max_value=4)
    case(t, "strict", floats(1.5, 2.5, None), column="x", min_value=0.5, max_value=2.5, strict_max=True)
    case(t, "parameter", ints(3, 4, 8), column="x", min_value=P)
    case(t, "all_null", floats(None, None), column="x", min_value=0)
for t in ("expect_column_min_to_be_between", "expect_column_max_to_be_between"):
    case(t, "timestamps", NAIVE, column="x", min_value="2024-01-01T00:00:00", max_value="2024-06-30T00:00:00")
    case(t, "zoned", ZONED, column="x", max_value=datetime(2024, 2, 1, tzinfo=ZONE))
    case(t, "naive_parameter", NAIVE, column="x", max_value={"$PARAMETER": "now"})
t = "expect_column_quantile_values_to_be_between"
case(
    t,
    "nearest",
    ints(1, 2, 3, 4, 5, 6, None),
    column="x",
    quantile_ranges={
        "quantiles": [0.0, 0.25, 0.5, 0.75, 1.0],
        "value_ranges": [[1, 1], [2, 2], [3, 4], [4, 5], [6, 6]],
    },
)
case(
    t,
    "half_even",
    floats(1.0, 2.0, 3.0, 4.0),
    column="x",
    quantile_ranges={"quantiles": [0.5, 0.1666], "value_ranges": [[None, 2.5], [1.0, None]]},
)
case(
    t,
    "tolerance",
    floats(100.0, 200.0),
    column="x",
    quantile_ranges={"quantiles": [0.5], "value_ranges": [[100.005, 150.0]]},
)
for t in (
    "expect_column_distinct_values_to_be_in_set",
    "expect_column_distinct_values_to_contain_set",
    "expect_column_distinct_values_to_equal_set",
):
    case(t, "ints", ints(1, 2, 2, None), column="x", value_set=[1, 2])
    case(t, "extra", ints(1, 2, 3), column="x", value_set=[1, 2, 4])
    case(t, "unicode", UNICODE, column="x", value_set=["é", "Straße", "abc", "ABC", "日本語", "a\nb", "x1\n"])
    case(t, "empty", EMPTY_INT, column="x", value_set=[1])
t = "expect_column_unique_value_count_to_be_between"
case(t, "nulls", ints(1, 1, 2, None), column="x", min_value=2, max_value=2)
case(t, "empty", EMPTY_INT, column="x", min_value=0, max_value=0)
case(t, "parameter", ints(1, 2, 3), column="x", min_value=P)
t = "expect_column_proportion_of_unique_values_to_be_between"
case(t, "nulls", ints(1, 1, 2, None), column="x", min_value=0.5, max_value=1)
case(t, "strict", ints(1, 2), column="x", min_value=0, max_value=1, strict_max=True)
case(t, "all_null", ints(None, None), column="x", min_value=0, max_value=0)
case(t, "parameter", ints(1, 1, 2, 3), column="x", max_value={"$PARAMETER": "share"})
t = "expect_column_most_common_value_to_be_in_set"
case(t, "single", ints(1, 2, 2, None, None, None), column="x", value_set=[2])
case(t, "ties", ints(1, 1, 2, 2), column="x", value_set=[2])
case(t, "ties_okay", ints(1, 1, 2, 2), column="x", value_set=[2], ties_okay=True)
case(t, "unicode", UNICODE, column="x", value_set=["é"], ties_okay=True)

# Table expectations.
TABLE = {"a": (INT, [1, 2, 3]), "b": (TEXT, ["x", None, "z"])}
t = "expect_table_row_count_to_be_between"
case(t, "between", TABLE, min_value=1, max_value=3)
case(t, "strict", TABLE, min_value=1, max_value=3, strict_max=True)
case(t, "empty", EMPTY_INT, min_value=1)
case(t, "parameter", TABLE, min_value=P)
t = "expect_table_row_count_to_equal"
case(t, "equal", TABLE, value=3)
case(t, "empty", EMPTY_INT, value=0)
case(t, "differs", TABLE, value=2)
t = "expect_table_row_count_to_equal_other_table"
case(t, "equal", TABLE, _other_rows=3)
case(t, "differs", TABLE, _other_rows=5)
t = "expect_table_column_count_to_be_between"
case(t, "between", TABLE, min_value=2, max_value=2)
case(t, "above", TABLE, min_value=3)
t = "expect_table_column_count_to_equal"
case(t, "equal", TABLE, value=2)
case(t, "differs", TABLE, value=3)
t = "expect_table_columns_to_match_ordered_list"
case(t, "same", TABLE, column_list=["a", "b"])
case(t, "order", TABLE, column_list=["b", "a"])
t = "expect_table_columns_to_match_set"
case(t, "same", TABLE, column_set=["b", "a"])
case(t, "subset_not_exact", TABLE, column_set=["a"], exact_match=False)
case(t, "missing", TABLE, column_set=["a", "b", "c"])
t = "expect_column_to_exist"
case(t, "exists", TABLE, column="b")
case(t, "absent", TABLE, column="c")
case(t, "index", TABLE, column="b", column_index=1)
case(t, "index_zero_anywhere", TABLE, column="b", column_index=0)
t = "expect_column_values_to_be_of_type"
case(t, "int64", ints(1, 2), column="x", type_="int64")
case(t, "int_with_nulls_is_float", ints(1, None), column="x", type_="int64")
case(t, "python_float", floats(1.5), column="x", type_="float")
case(t, "zoned", ZONED, column="x", type_="datetime64")
case(t, "text_object", UNICODE, column="x", type_="object")
t = "expect_column_values_to_be_in_type_list"
case(t, "ints", ints(1, 2), column="x", type_list=["int32", "int64"])
case(t, "floats", floats(1.5, None), column="x", type_list=["int64", "float64"])
case(t, "none_match", floats(1.5), column="x", type_list=["int64", "bool"])
t = "unexpected_rows_expectation"
ROWS = {"a": (INT, [1, 5, 10, None]), "b": (TEXT, ["é", "x", None, "y"])}
case(t, "some", ROWS, unexpected_rows_query="SELECT * FROM {batch} WHERE a > 4")
case(t, "none", ROWS, unexpected_rows_query="SELECT * FROM {batch} WHERE a > 40")
case(t, "unicode", ROWS, unexpected_rows_query="SELECT * FROM {batch} WHERE b = 'é'")
