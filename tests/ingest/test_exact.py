"""Exact or rejected: columns bound by name, values never rounded, clamped or truncated, bad rows set apart.

The table at the top is the contract for every declared type: each kind of bad value, landed in
CSV, JSON lines and Parquet, sets its row apart with the column and a reason in words, while the
file's good row lands unchanged.
"""

from __future__ import annotations

import io
import json
import textwrap
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
from tests.conftest import ORDERS_HEADER, land

TYPES = {
    "i": "int",
    "l": "long",
    "d": "decimal(10,2)",
    "f": "float",
    "x": "double",
    "b": "boolean",
    "dt": "date",
    "ts": "timestamp",
    "tz": "timestamptz",
    "s": "string",
}
GOOD = {
    "i": "7",
    "l": "9001",
    "d": "19.99",
    "f": "1.5",
    "x": "2.25",
    "b": "true",
    "dt": "2024-02-03",
    "ts": "2024-02-03 10:00:00",
    "tz": "2024-02-03 10:00:00+02:00",
    "s": "text",
}
# (column, bad text value, what the reason must say). Every one of these DuckDB alone would round,
# clamp, truncate, shift or accept.
BAD_TEXT = [
    ("i", "1.5", "fraction"),
    ("i", "2147483648", "out of range for int"),
    ("i", "1e3", "not a whole number"),
    ("i", "1_000", "not a whole number"),
    ("i", "0x10", "not a whole number"),
    ("l", "9223372036854775808", "out of range for long"),
    ("l", "9001.5", "fraction"),
    ("d", "19.999999999", "more than 2 decimal places"),
    ("d", "123456789.00", "more than 8 digits before the decimal point"),
    ("d", "NaN", "NaN or Infinity"),
    ("d", "Infinity", "NaN or Infinity"),
    ("d", "10,50", "not a decimal number"),
    ("f", "1e39", "out of range for float"),
    ("x", "1e400", "out of range for double"),
    ("x", "abc", "not a number"),
    ("b", "on", "not a boolean"),
    ("dt", "0000-01-01", "outside the years 0001 to 9999"),
    ("dt", "-0044-03-15", "not a date"),
    ("dt", "2024-02-30", "not a valid calendar date"),
    ("dt", "2024-02-03 10:00:00", "time of day"),
    ("dt", "03/02/2024", "not a date"),
    ("ts", "2024-02-03 10:00:00.1234567", "more precise than microseconds"),
    ("ts", "2024-02-03 10:00:00.12345670", "more precise than microseconds"),
    ("ts", "0000-01-01 00:00:00", "outside the years 0001 to 9999"),
    ("ts", "9999-12-31 23:00:00-05:00", "outside the years 0001 to 9999"),
    ("ts", "01/11/2026 10:00", "not a timestamp"),
    ("tz", "2024-02-03 25:00:00", "not a valid calendar date and time"),
]
# Parquet carries its own types: the same rules hold for typed values.
BAD_TYPED = [
    ("l", pa.float64(), 9001.5, "fraction"),
    ("l", pa.float64(), float("nan"), "NaN or Infinity"),
    ("i", pa.int64(), 3_000_000_000, "out of range for int"),
    ("d", pa.float64(), 19.999999999, "more than 2 decimal places"),
    ("d", pa.float64(), float("inf"), "NaN or Infinity"),
    ("d", pa.decimal128(18, 3), Decimal("1.234"), "more than 2 decimal places"),
    ("x", pa.int64(), 2**53 + 1, "would be rounded"),
    ("i", pa.bool_(), True, "a boolean, not int"),
    ("dt", pa.timestamp("us"), datetime(2024, 2, 3, 10, 0), "time of day"),
    ("ts", pa.timestamp("ns"), pa.scalar(1_706_954_400_123_456_789, pa.timestamp("ns")), "microseconds"),
    ("l", pa.list_(pa.int64()), [1, 2], "nested value"),
]
REGISTRY = textwrap.dedent(
    """
    version: 1
    datasets:
    {datasets}
    """
)


def _dataset_yaml(name: str, fmt: str) -> str:
    columns = "\n".join(f'          {c}: {{type: "{t}"}}' for c, t in {"id": "long", **TYPES}.items())
    return textwrap.indent(
        textwrap.dedent(
            f"""
            {name}:
              description: Every type.
              owner: team:test
              landing: {{prefix: {name}/, glob: "*.{fmt}"}}
              format: {fmt}
              primary_key: [id]
              columns:
            """
        )
        + columns
        + "\n",
        "  ",
    )


@pytest.fixture
def typed(tmp_path: Path) -> tuple[Settings, dict]:
    sources = tmp_path / "sources.yml"
    datasets = "".join(
        _dataset_yaml(n, f)
        for n, f in (("csv_types", "csv"), ("json_types", "jsonl"), ("pq_types", "parquet"))
    )
    sources.write_text(REGISTRY.format(datasets=datasets))
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0, sources_file=sources)
    return settings, {d.name: d for d in load_registry(sources)}


def _rows(settings: Settings, table: str) -> list[dict]:
    return open_catalog(settings).load_table(table).scan().to_arrow().to_pylist()


def _row_records(settings: Settings) -> list[dict]:
    return [r for r in read_quarantine(open_catalog(settings)).to_pylist() if r["scope"] == "row"]


def _assert_set_apart(settings: Settings, table: str, column: str, bad: object, fragment: str) -> None:
    rows = _rows(settings, table)
    assert [r["id"] for r in rows] == [1], f"the good row lands, the bad one does not: {rows}"
    [record] = _row_records(settings)
    assert record["column_name"] == column and fragment in record["message"], record["message"]
    assert record["reason"] == "type_conflict"
    assert json.loads(record["row_data"])["id"] in ("2", 2)  # the row as landed is kept
    if isinstance(bad, str) and len(bad) > 2 and bad not in fragment and not bad.lstrip("-").isdigit():
        assert bad not in record["message"], "a row value in the message"


@pytest.mark.parametrize(("column", "bad", "fragment"), BAD_TEXT, ids=[f"{c}={v}" for c, v, _ in BAD_TEXT])
def test_bad_text_value_sets_its_row_apart_in_csv(typed, column, bad, fragment):
    settings, datasets = typed
    header = ",".join(["id", *TYPES])
    good = ",".join(["1", *GOOD.values()])
    other = ",".join(["2", *({**GOOD, column: bad}.values())]) if "," not in bad else None
    if other is None:  # a value with a comma is quoted
        other = ",".join(["2", *(f'"{v}"' if c == column else v for c, v in GOOD.items())]).replace(
            f'"{GOOD[column]}"', f'"{bad}"'
        )
    land(settings, "csv_types/f.csv", f"{header}\n{good}\n{other}\n")
    report = ingest_dataset(settings, datasets["csv_types"], run_id="r")
    assert report.rows == 1 and not report.quarantined
    _assert_set_apart(settings, "raw.csv_types", column, bad, fragment)


# In JSON, 1e3 is a number (exactly 1000), not text; a number with 18 digits cannot be trusted.
BAD_JSON = [case for case in BAD_TEXT if case[1] != "1e3"] + [
    ("l", "12345678901234567.0", "more digits than a double keeps exactly"),
    ("l", "12345678901234567890123", "out of range for long"),
]


@pytest.mark.parametrize(("column", "bad", "fragment"), BAD_JSON, ids=[f"{c}={v}" for c, v, _ in BAD_JSON])
def test_bad_value_sets_its_row_apart_in_json_lines(typed, column, bad, fragment):
    settings, datasets = typed

    def token(text: str) -> str:
        """A value as a JSON number where the text is one, else as a JSON string."""
        try:
            number = json.loads(text)
        except json.JSONDecodeError:
            return json.dumps(text)
        return (
            text
            if isinstance(number, int | float) and text.lower() not in ("nan", "infinity")
            else json.dumps(text)
        )

    def line(values: dict[str, str]) -> str:
        return "{" + ", ".join(f"{json.dumps(c)}: {token(v)}" for c, v in values.items()) + "}"

    land(
        settings,
        "json_types/f.jsonl",
        line({"id": "1", **GOOD}) + "\n" + line({"id": "2", **GOOD, column: bad}) + "\n",
    )
    report = ingest_dataset(settings, datasets["json_types"], run_id="r")
    assert report.rows == 1 and not report.quarantined
    _assert_set_apart(settings, "raw.json_types", column, bad, fragment)


@pytest.mark.parametrize(
    ("column", "arrow_type", "bad", "fragment"), BAD_TYPED, ids=[f"{c}:{t}" for c, t, _, _ in BAD_TYPED]
)
def test_bad_typed_value_sets_its_row_apart_in_parquet(typed, column, arrow_type, bad, fragment):
    settings, datasets = typed
    typed_good = {
        "i": (pa.int32(), 7),
        "l": (pa.int64(), 9001),
        "d": (pa.decimal128(10, 2), Decimal("19.99")),
        "f": (pa.float32(), 1.5),
        "x": (pa.float64(), 2.25),
        "b": (pa.bool_(), True),
        "dt": (pa.date32(), date(2024, 2, 3)),
        "ts": (pa.timestamp("us"), datetime(2024, 2, 3, 10, 0)),
        "tz": (pa.timestamp("us", tz="UTC"), datetime(2024, 2, 3, 8, 0)),
        "s": (pa.string(), "text"),
    }
    columns = {"id": pa.array([1, 2], pa.int64())}
    for c, (t, v) in typed_good.items():
        # The good row holds nothing in the column under test (null fits every type).
        columns[c] = pa.array([None, bad], arrow_type) if c == column else pa.array([v, v], t)
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    land(settings, "pq_types/f.parquet", buffer.getvalue())
    report = ingest_dataset(settings, datasets["pq_types"], run_id="r")
    assert report.rows == 1 and not report.quarantined, report.quarantined
    _assert_set_apart(settings, "raw.pq_types", column, bad, fragment)


def test_good_values_land_exactly_as_written(typed):
    settings, datasets = typed
    header = ",".join(["id", *TYPES])
    land(settings, "csv_types/f.csv", f"{header}\n" + ",".join(["1", *GOOD.values()]) + "\n")
    ingest_dataset(settings, datasets["csv_types"], run_id="r")
    [row] = _rows(settings, "raw.csv_types")
    assert row["i"] == 7 and row["l"] == 9001 and row["d"] == Decimal("19.99")
    assert row["f"] == 1.5 and row["x"] == 2.25 and row["b"] is True
    assert row["dt"] == date(2024, 2, 3) and row["ts"] == datetime(2024, 2, 3, 10, 0)
    assert row["tz"].isoformat() == "2024-02-03T08:00:00+00:00" and row["s"] == "text"


def test_timestamps_with_zero_padded_fractions_land_exactly(typed):
    """DuckDB renders .120000 as .12: the fast check must still take, and keep, such values."""
    settings, datasets = typed
    header = ",".join(["id", *TYPES])
    stamps = ["2024-02-03 10:00:00.120000", "2024-02-03 10:00:00.000000", "2024-02-03 10:00:00.5000000"]
    lines = [",".join([str(n), *{**GOOD, "ts": ts}.values()]) for n, ts in enumerate(stamps)]
    land(settings, "csv_types/f.csv", "\n".join([header, *lines]) + "\n")
    report = ingest_dataset(settings, datasets["csv_types"], run_id="r")
    assert report.rows == 3 and not report.rejected_rows and not report.quarantined
    got = sorted(row["ts"] for row in _rows(settings, "raw.csv_types"))
    assert got == [
        datetime(2024, 2, 3, 10, 0),
        datetime(2024, 2, 3, 10, 0, 0, 120000),
        datetime(2024, 2, 3, 10, 0, 0, 500000),
    ]


def test_columns_are_bound_by_name_in_any_order(settings, registry):
    """The issue's reproduction: last_name before first_name landed swapped and passed the gate."""
    land(
        settings,
        "customers/swapped.csv",
        "customer_id,last_name,first_name,email,phone,country,segment,signup_date\n"
        "96002,Smith,Alice,a@x.com,+44 20 7946 0958,GB,smb,2024-02-03\n",
    )
    ingest_dataset(settings, registry["customers"], run_id="r")
    [row] = _rows(settings, "raw.customers")
    assert (row["first_name"], row["last_name"]) == ("Alice", "Smith")
    assert row["signup_date"] == date(2024, 2, 3)


def test_columns_of_other_types_swapped_land_in_their_own_columns(settings, registry):
    header = "ordered_at,status,currency,amount,quantity,product_id,customer_id,order_id"
    land(settings, "orders/reversed.csv", f"{header}\n2026-11-01 10:00:00,placed,EUR,12.50,3,4,5,6\n")
    report = ingest_dataset(settings, registry["orders"], run_id="r")
    assert report.rows == 1 and not report.quarantined and not report.rejected_rows
    [row] = _rows(settings, "raw.orders")
    assert (row["order_id"], row["customer_id"], row["product_id"], row["quantity"]) == (6, 5, 4, 3)
    assert row["amount"] == Decimal("12.50") and row["status"] == "placed"


def test_quantity_one_and_a_half_is_not_stored_as_two(settings, registry):
    land(
        settings,
        "orders/half.csv",
        f"{ORDERS_HEADER}\n1,1,1,2,10.00,EUR,placed,2026-11-01 10:00:00\n"
        "2,1,1,1.5,10.00,EUR,placed,2026-11-01 10:00:00\n",
    )
    report = ingest_dataset(settings, registry["orders"], run_id="r")
    assert [r["quantity"] for r in _rows(settings, "raw.orders")] == [2]
    [record] = report.rejected_rows
    assert record.line == 3 and record.column_name == "quantity" and "never rounded" in record.message


def test_parquet_double_into_a_long_key_is_not_a_new_duplicate(settings, registry):
    table = pa.table(
        {
            "product_id": pa.array([9002.0, 9001.5], pa.float64()),
            "sku": ["A", "B"],
            "unit_price": pa.array([1.5, 19.999999999], pa.float64()),
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    land(settings, "products/p.parquet", buffer.getvalue())
    report = ingest_dataset(settings, registry["products"], run_id="r")
    rows = _rows(settings, "raw.products")
    assert [(r["product_id"], r["unit_price"]) for r in rows] == [(9002, Decimal("1.50"))]
    [record] = report.rejected_rows
    assert "product_id" in record.message and "unit_price" in record.message  # both problems named


def test_dates_outside_iceberg_range_are_rows_set_apart_not_a_crashed_commit(settings, registry):
    land(
        settings,
        "customers/ancient.csv",
        "customer_id,first_name,signup_date\n1,Ada,2024-02-03\n2,Bo,0000-01-01\n3,Cy,-0044-03-15\n",
    )
    report = ingest_dataset(settings, registry["customers"], run_id="r")
    assert report.rows == 1 and len(report.rejected_rows) == 2
    assert {r.column_name for r in report.rejected_rows} == {"signup_date"}


def test_a_file_with_300_new_columns_does_not_grow_the_table(settings, registry):
    extra = [f"extra_{i}" for i in range(300)]
    header = ORDERS_HEADER + "," + ",".join(extra)
    row = "1,1,1,1,1.00,EUR,placed,2026-11-01 10:00:00," + ",".join("x" for _ in extra)
    land(settings, "orders/wide.csv", f"{header}\n{row}\n")
    report = ingest_dataset(settings, registry["orders"], run_id="r")
    [record] = report.quarantined
    assert record.reason == "too_many_columns" and "FOUNDATION_MAX_NEW_COLUMNS_PER_FILE" in record.message
    table = open_catalog(settings).load_table("raw.orders")
    assert len(table.schema().fields) == 8 + 4


def test_too_many_bad_rows_quarantine_the_file_whole(tmp_path, registry):
    settings = Settings.for_data_dir(
        tmp_path / "d", sensor_min_file_age_seconds=0, max_rejected_rows_per_file=2
    )
    rows = [f"{i},1,1,{'x' if i > 1 else 1},1.00,EUR,placed,2026-11-01 10:00:00" for i in range(1, 6)]
    land(settings, "orders/bad.csv", ORDERS_HEADER + "\n" + "\n".join(rows) + "\n")
    report = ingest_dataset(settings, registry["orders"], run_id="r")
    [record] = report.quarantined
    assert record.reason == "type_conflict" and "4 of 5 row(s)" in record.message
    assert "FOUNDATION_MAX_REJECTED_ROWS_PER_FILE" in record.message and record.line == 3
    assert report.rows == 0 and not report.rejected_rows


def test_header_names_match_whatever_their_punctuation(settings, registry):
    land(
        settings,
        "customers/export.csv",
        "Customer-ID,First Name,LastName,E-mail,Phone,Country,Segment,Signup.Date\n"
        "7,Ada,Lovelace,ada@example.com,+44 20 7946 0001,GB,smb,2024-02-03\n",
    )
    report = ingest_dataset(settings, registry["customers"], run_id="r")
    assert report.rows == 1 and not report.new_columns, report.new_columns
    [row] = _rows(settings, "raw.customers")
    assert (row["customer_id"], row["last_name"], row["email"]) == (7, "Lovelace", "ada@example.com")
    assert row["signup_date"] == date(2024, 2, 3)


def test_two_headers_for_one_column_are_ambiguous(settings, registry):
    land(settings, "customers/twice.csv", "customer_id,email,E-mail\n1,a@x.com,b@x.com\n")
    report = ingest_dataset(settings, registry["customers"], run_id="r")
    [record] = report.quarantined
    assert record.reason == "duplicate_columns" and "'email' and 'E-mail'" in record.message


def test_an_empty_row_is_set_apart_not_landed_as_nulls(settings, registry):
    """Excel exports formatted-but-empty rows as ,,,,,,,: they are not data, and must not hold a file back."""
    land(
        settings,
        "customers/excel.csv",
        "customer_id,first_name,last_name,email,phone,country,segment,signup_date\n"
        "7,Ada,Lovelace,ada@example.com,+44 20 7946 0001,GB,smb,2024-02-03\n,,,,,,,\n",
    )
    report = ingest_dataset(settings, registry["customers"], run_id="r")
    assert report.rows == 1
    [record] = report.rejected_rows
    assert record.line == 3 and record.column_name is None and "an empty row" in record.message
