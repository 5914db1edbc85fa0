"""Each landing format lands typed, with lineage columns, partitioned by ingest day."""

import json
from datetime import datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.tables import open_catalog
from tests.conftest import land, orders_csv


def _rows(settings, table):
    return open_catalog(settings).load_table(table).scan().to_arrow()


def test_csv_is_cast_to_the_declared_schema_with_lineage(settings, registry):
    path = land(settings, "orders/orders_a.csv", orders_csv(1, 3))
    report = ingest_dataset(settings, registry["orders"], run_id="run-1")
    assert report.rows == 3 and [f["file"] for f in report.ingested] == ["orders/orders_a.csv"]
    data = _rows(settings, "raw.orders")
    assert data.schema.field("order_id").type == pa.int64()
    assert data.schema.field("quantity").type == pa.int32()
    assert data.schema.field("amount").type == pa.decimal128(12, 2)
    assert data.schema.field("ordered_at").type == pa.timestamp("us")
    first = sorted(data.to_pylist(), key=lambda r: r["order_id"])[0]
    assert first["amount"] == Decimal("1.50")
    assert first["ordered_at"] == datetime(2026, 11, 1, 10, 1)
    assert first["_source_file"] == path.as_uri()
    assert len(first["_source_checksum"]) == 64
    assert first["_run_id"] == "run-1"
    assert first["_ingested_at"].tzinfo is not None
    table = open_catalog(settings).load_table("raw.orders")
    assert [f.name for f in table.spec().fields] == ["_ingested_day"]
    partitions = table.inspect.files()["partition"].to_pylist()
    assert partitions == [{"_ingested_day": first["_ingested_at"].date()}]


def test_jsonl_with_nested_values_and_key_order(settings, registry):
    lines = [
        {
            "ticket_id": 1,
            "customer_id": 7,
            "channel": "email",
            "priority": "high",
            "status": "open",
            "subject": "Refund",
            "body": "Call me on +44 20 7946 0123",
            "created_at": "2026-11-01 09:00:00",
        },
        {
            "created_at": "2026-11-01 10:00:00",
            "ticket_id": 2,
            "customer_id": 8,
            "channel": "chat",
            "priority": None,
            "status": "solved",
            "subject": {"nested": True},
            "body": "thanks",
        },
    ]
    land(settings, "support_tickets/t.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n")
    report = ingest_dataset(settings, registry["support_tickets"], run_id="r")
    assert report.rows == 2, report
    rows = {r["ticket_id"]: r for r in _rows(settings, "raw.support_tickets").to_pylist()}
    assert rows[1]["created_at"] == datetime(2026, 11, 1, 9, 0)
    assert rows[2]["priority"] is None
    assert json.loads(rows[2]["subject"]) == {"nested": True}


def test_parquet_is_cast_by_name(settings, registry, tmp_path):
    table = pa.table(
        {
            "updated_at": pa.array([datetime(2026, 11, 1)], pa.timestamp("ms")),
            "product_id": pa.array([5], pa.int32()),
            "sku": ["SKU-5"],
            "name": ["Lamp"],
            "category": ["home"],
            "unit_price": pa.array([19.99], pa.float64()),
            "active": [True],
        }
    )
    local = tmp_path / "p.parquet"
    pq.write_table(table, local)
    land(settings, "products/p.parquet", local.read_bytes())
    report = ingest_dataset(settings, registry["products"], run_id="r")
    assert report.rows == 1
    data = _rows(settings, "raw.products")
    assert data.schema.field("product_id").type == pa.int64()
    assert data.to_pylist()[0]["unit_price"] == Decimal("19.99")


def test_files_of_other_datasets_and_temporaries_are_not_picked_up(settings, registry):
    land(settings, "orders/.partial.csv", orders_csv(1, 1))
    land(settings, "orders/notes.txt", "hello")
    land(settings, "customers/orders.csv", orders_csv(1, 1))
    report = ingest_dataset(settings, registry["orders"], run_id="r")
    assert report.ingested == [] and report.quarantined == []
