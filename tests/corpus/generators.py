"""Corpus files built at test time: too big to commit (over 20 KB), or binary (Parquet, PDF).

Each generator returns the file's bytes; `cases.yml` names it in a case's `generate`.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import TICKET

ORDERS_HEADER = "order_id,customer_id,product_id,quantity,amount,currency,status,ordered_at"
TEN_MB = 10 * 1024 * 1024


def _order(i: int, *, quantity: str = "1", status: str = "placed") -> str:
    return f"{i},{i % 7 + 1},{i % 5 + 1},{quantity},{i}.50,EUR,{status},2026-11-01 10:{i % 60:02d}:00"


def _orders(rows: list[str]) -> bytes:
    return ("\n".join([ORDERS_HEADER, *rows]) + "\n").encode()


def _parquet(table: pa.Table, **options) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def _products(count: int = 2, **columns) -> pa.Table:
    """A products table; `columns` replace or add columns (name -> pyarrow array or list)."""
    ids = list(range(1, count + 1))
    base = {
        "product_id": pa.array(ids, pa.int64()),
        "sku": [f"SKU-{i}" for i in ids],
        "name": [f"Product {i}" for i in ids],
        "category": ["home"] * count,
        "unit_price": pa.array([Decimal(f"{i}.50") for i in ids], pa.decimal128(10, 2)),
        "active": [True] * count,
        "updated_at": [datetime(2026, 10, 1, 12, 0, 0)] * count,
    }
    base.update(columns)
    return pa.table({k: v for k, v in base.items() if v is not None})


# --- size ----------------------------------------------------------------------------------------


def ten_mb_single_line() -> bytes:
    return b"A" * TEN_MB  # no newline at all


def ten_mb_row() -> bytes:
    row = "1,1,1,1,10.50,EUR," + "x" * TEN_MB + ",2026-11-01 10:00:00\n"
    return (ORDERS_HEADER + "\n" + row).encode()


def _record(length: int) -> str:
    """An orders line of exactly `length` bytes (without its line break)."""
    shell = _order(2, status="")
    return _order(2, status="x" * (length - len(shell)))


def record_at_limit() -> bytes:
    return _orders([_order(1), _record(4096), _order(3)])  # the case's limit is 4096 bytes


def record_past_limit() -> bytes:
    return _orders([_order(1), _order(2), _record(4097), _order(4)])


def header_past_limit() -> bytes:
    return (ORDERS_HEADER + "," + "y" * 5000 + "\n" + _order(1) + ",1\n").encode()


def jsonl_record_past_limit() -> bytes:
    big = {**TICKET, "ticket_id": 2, "body": "x" * 5000}
    return "\n".join(json.dumps(r) for r in (TICKET, big)).encode() + b"\n"


def jsonl_record_at_limit() -> bytes:
    shell = json.dumps({**TICKET, "ticket_id": 2, "body": ""})
    exact = json.dumps({**TICKET, "ticket_id": 2, "body": "x" * (4096 - len(shell))})
    assert len(exact) == 4096
    return "\n".join([json.dumps(TICKET), exact, json.dumps({**TICKET, "ticket_id": 3})]).encode() + b"\n"


def wide_value_under_limit() -> bytes:
    return _orders([_order(1, status="w" * 1_000_000), _order(2)])


def many_rows_few_bad() -> bytes:
    bad = {1200: "1.5", 2500: "abc", 4999: "99999999999"}
    return _orders([_order(i, quantity=bad.get(i, "1")) for i in range(1, 5001)])


def more_bad_rows_than_limit() -> bytes:
    return _orders([_order(i, quantity="0.5" if i % 100 == 0 else "1") for i in range(1, 1001)])


def bad_rows_at_limit() -> bytes:
    return _orders([_order(i, quantity="0.5" if i % 200 == 0 else "1") for i in range(1, 1001)])


def too_many_columns() -> bytes:
    names = ORDERS_HEADER.split(",") + [f"extra_{i}" for i in range(30)]
    return (",".join(names) + "\n" + _order(1) + "," * 30 + "\n").encode()


def parquet_many_row_groups() -> bytes:
    return _parquet(_products(1000), row_group_size=1)


def parquet_too_many_columns() -> bytes:
    return _parquet(_products(2, **{f"extra_{i}": [i, i] for i in range(30)}))


def document_over_limit() -> bytes:
    return ("# Big\n\n" + "Returns are accepted within thirty days of delivery. " * 40).encode()


# --- nesting -------------------------------------------------------------------------------------


def _nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def jsonl_nested_at_limit() -> bytes:
    lines = [TICKET, {**TICKET, "ticket_id": 2, "body": json.loads(_nested(64))}]
    return "\n".join(json.dumps(r) for r in lines).encode() + b"\n"


def jsonl_nested_past_limit() -> bytes:
    without_body = {k: v for k, v in TICKET.items() if k != "body"}
    deep = json.dumps({**without_body, "ticket_id": 2})[:-1] + ', "body": ' + _nested(65) + "}"
    return (json.dumps(TICKET) + "\n" + deep + "\n" + json.dumps({**TICKET, "ticket_id": 3}) + "\n").encode()


def jsonl_nested_20000() -> bytes:
    deep = (
        json.dumps({**TICKET, "ticket_id": 2})[:-1]
        + ', "payload": '
        + '{"a":' * 20000
        + "1"
        + "}" * 20000
        + "}"
    )
    return (json.dumps(TICKET) + "\n" + deep + "\n").encode()


def jsonl_brackets_in_strings() -> bytes:
    lines = [{**TICKET, "body": "[" * 500 + "{" * 500}, {**TICKET, "ticket_id": 2, "subject": "\\[\\" * 100}]
    return "\n".join(json.dumps(r) for r in lines).encode() + b"\n"


def parquet_deep_struct() -> bytes:
    value: object = 1
    for _ in range(40):
        value = {"a": value}
    return _parquet(_products(2, details=[value, value]))


def parquet_list_into_string() -> bytes:
    return _parquet(_products(2, name=pa.array([["a", "b"], None], pa.list_(pa.string()))))


def parquet_struct_into_long() -> bytes:
    ids = pa.array([{"id": 1}, {"id": 2}], pa.struct([("id", pa.int64())]))
    return _parquet(_products(2, product_id=ids))


# --- types ---------------------------------------------------------------------------------------


def parquet_double_into_long() -> bytes:
    return _parquet(_products(3, product_id=pa.array([1.0, 9001.5, 3.0], pa.float64())))


def parquet_uint64_max() -> bytes:
    return _parquet(_products(2, product_id=pa.array([1, 2**64 - 1], pa.uint64())))


def parquet_decimal_wider_scale() -> bytes:
    prices = pa.array([Decimal("1.2300"), Decimal("1.2345")], pa.decimal128(12, 4))
    return _parquet(_products(2, unit_price=prices))


def parquet_decimal_wider_precision() -> bytes:
    prices = pa.array([Decimal("12345678.90"), Decimal("123456789.00")], pa.decimal128(20, 2))
    return _parquet(_products(2, unit_price=prices))


def parquet_price_as_string() -> bytes:
    return _parquet(_products(3, unit_price=["1.50", " 2 ", "2.505"]))


def parquet_bool_from_int() -> bytes:
    return _parquet(_products(3, active=pa.array([1, 0, 2], pa.int8())))


def parquet_float32_price() -> bytes:
    return _parquet(_products(2, unit_price=pa.array([0.5, 0.1], pa.float32())))


def parquet_binary_name() -> bytes:
    return _parquet(_products(2, name=pa.array([b"plain", b"\xff\xfe bytes"], pa.binary())))


def parquet_invalid_utf8_string() -> bytes:
    """A string column whose bytes are not UTF-8 (a writer that did not check): the value is PII."""
    table = _products(2, name=["Ann Example", "J\u00e4rg Secretname"])
    data = _parquet(table, compression="none", use_dictionary=False, write_statistics=False)
    return data.replace("\u00e4".encode(), b"\xf6X")  # same length: the file stays well formed


def parquet_reordered() -> bytes:
    table = _products(2)
    return _parquet(table.select(list(reversed(table.column_names))))


def parquet_missing_columns() -> bytes:
    return _parquet(_products(2, name=None, category=None, active=None))


def parquet_no_rows() -> bytes:
    return _parquet(_products(0))


def parquet_case_duplicate() -> bytes:
    table = _products(2)
    return _parquet(table.append_column("Product_ID", pa.array([7, 8], pa.int64())))


def parquet_magic_only() -> bytes:
    return b"PAR1PAR1"


def parquet_footer_damaged() -> bytes:
    data = bytearray(_parquet(_products(5)))
    footer = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    for i in range(footer, footer + 24):  # the schema's first elements
        data[i] ^= 0x5A
    return bytes(data)


def parquet_truncated() -> bytes:
    valid = _parquet(_products(200))
    return valid[: len(valid) // 2]


# --- dates ---------------------------------------------------------------------------------------


def parquet_timestamp_ns() -> bytes:
    stamps = pa.array([1_790_000_000_000_000_000, 1_790_000_000_000_000_001], pa.timestamp("ns"))
    return _parquet(_products(2, updated_at=stamps), coerce_timestamps=None, version="2.6")


def parquet_timestamp_tz() -> bytes:
    stamps = pa.array([datetime(2026, 10, 1, 12, 0, tzinfo=UTC)] * 2, pa.timestamp("us", tz="+05:45"))
    return _parquet(_products(2, updated_at=stamps))


def parquet_date_year_10000() -> bytes:
    days = pa.array([date(2026, 1, 1).toordinal() - 719163, 2932897], pa.int32()).cast(pa.date32())
    return _parquet(_products(2, updated_at=days))


# --- documents -----------------------------------------------------------------------------------


def _pdf(text: str) -> bytes:
    from dagster_project.demo.sample_data.pdf import pdf_bytes

    return pdf_bytes("Returns", [("h1", "Returns"), ("p", text)])


def pdf_good() -> bytes:
    return _pdf("Returns are accepted within thirty days. Call Zq7 Example on 0123 for help.")


def pdf_truncated() -> bytes:
    data = pdf_good()
    return data[: len(data) * 2 // 3]


def pdf_damaged_object() -> bytes:
    """A content stream whose text operator is broken in the middle of a sentence (quoted by pypdf)."""
    data = pdf_good()
    return data.replace(b") Tj", b") \x9b\x83Tj", 1)


def pdf_no_text() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pdf_encrypted() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_good())))
    writer.encrypt("secret", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def binary_md() -> bytes:
    """Binary bytes named .md (generated: tools that read markdown choke on a committed copy)."""
    return bytes(range(256)) * 8


def utf16_no_bom_md() -> bytes:
    text = "# Returns\n\nReturns are accepted within thirty days of delivery. Contact Ann Example for help.\n"
    return text.encode("utf-16-le")


def sidecar_nested_100000() -> bytes:
    return ("[" * 100_000 + "]" * 100_000).encode()


def sidecar_over_limit() -> bytes:
    return json.dumps({"metadataAttributes": {f"k{i}": "v" * 100 for i in range(12_000)}}).encode()


GENERATORS = {
    name: function
    for name, function in globals().items()
    if callable(function) and not name.startswith("_") and function.__module__ == __name__
}
