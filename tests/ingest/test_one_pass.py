"""A file whose rows all fit is written in one pass, one with a bad row the split way: the same values."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
from tests.conftest import land

# Columns in another order than declared, quoted fields (a delimiter and a quote inside), empty
# fields (nulls), and timestamps with an offset written as 'Z', '-hh:mm' and '+hh:mm'.
HEADER = "status,ordered_at,order_id,amount,currency,quantity,customer_id,product_id"
ROWS = [
    '"placed, gift wrapped",2024-02-03 10:00:00,1,19.99,EUR,2,7,3',
    '"said ""rush""",2024-02-03T10:00:00Z,2,0.50,USD,1,8,4',
    "shipped,2024-02-03 09:00:00-01:00,3,,,,9,",
    "delivered,2024-02-03 12:00:00+02:00,4,1234567890.10,EUR,3,10,5",
    ",,5,7,GBP,1,11,6",
]
EXPECTED = {
    1: ("placed, gift wrapped", datetime(2024, 2, 3, 10), Decimal("19.99"), "EUR", 2, 7, 3),
    2: ('said "rush"', datetime(2024, 2, 3, 10), Decimal("0.50"), "USD", 1, 8, 4),
    3: ("shipped", datetime(2024, 2, 3, 10), None, None, None, 9, None),
    4: ("delivered", datetime(2024, 2, 3, 10), Decimal("1234567890.10"), "EUR", 3, 10, 5),
    5: (None, None, Decimal("7.00"), "GBP", 1, 11, 6),
}
COLUMNS = ("status", "ordered_at", "amount", "currency", "quantity", "customer_id", "product_id")


def _rows(settings: Settings) -> dict[int, tuple]:
    table = open_catalog(settings).load_table("raw.orders").scan().to_arrow().to_pylist()
    return {row["order_id"]: tuple(row[c] for c in COLUMNS) for row in table}


def test_values_are_the_same_whether_a_file_takes_one_pass_or_the_split(tmp_path):
    one = Settings.for_data_dir(tmp_path / "one", sensor_min_file_age_seconds=0)
    split = Settings.for_data_dir(tmp_path / "split", sensor_min_file_age_seconds=0)
    land(one, "orders/a.csv", "\n".join([HEADER, *ROWS]) + "\n")
    # The bad row comes last: the one pass has written the good rows before it stops.
    land(
        split,
        "orders/a.csv",
        "\n".join([HEADER, *ROWS, "placed,2024-02-03 10:00:00,6,1.5,EUR,1.5,12,7"]) + "\n",
    )
    registry = load_registry(one.sources_file)
    clean = ingest_dataset(one, registry["orders"], run_id="r1")
    mixed = ingest_dataset(split, registry["orders"], run_id="r2")
    assert clean.rows == mixed.rows == 5 and not clean.rejected_rows
    assert _rows(one) == _rows(split) == EXPECTED
    [record] = mixed.rejected_rows
    assert record.line == 7 and record.column_name == "quantity" and "fraction" in record.message


def test_a_bad_row_past_the_first_chunks_is_set_apart_and_no_good_row_lands_twice(settings):
    """DuckDB works in chunks of 2,048 rows: the one pass stops chunks after its first writes."""
    good = [f"{i},{i},1,1,1.00,EUR,placed,2024-02-03 10:00:00" for i in range(1, 6001)]
    good[4999] = "5000,5000,1,1,1.001,EUR,placed,2024-02-03 10:00:00"  # three decimal places
    land(settings, "orders/big.csv", "\n".join(["order_id,customer_id,product_id,quantity,amount,currency,"
                                                 "status,ordered_at", *good]) + "\n")  # fmt: skip
    report = ingest_dataset(settings, load_registry(settings.sources_file)["orders"], run_id="r")
    ids = [
        r["order_id"] for r in open_catalog(settings).load_table("raw.orders").scan().to_arrow().to_pylist()
    ]
    assert report.rows == 5999 and sorted(ids) == [i for i in range(1, 6001) if i != 5000]
    [record] = report.rejected_rows
    assert record.line == 5001 and "more than 2 decimal places" in record.message
    assert not any((settings.work_dir / "r").glob("**/*.parquet"))  # nothing of the stopped pass is left
