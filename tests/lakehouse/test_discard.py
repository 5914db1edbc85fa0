"""A discard asked for is done and audited first; the batches it takes with it never undo that."""

from __future__ import annotations

from pathlib import Path

from pyiceberg.schema import Schema
from pyiceberg.types import NestedField, StringType

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.ops_tables.audit import AUDIT_TABLE
from dagster_project.lakehouse.review import discard_held
from dagster_project.lakehouse.tables import ensure_table, open_catalog
from tests.conftest import customers_csv, land, orders_csv
from tests.ingest.test_crash_points import NO_ORDER_ID, suite_of


def test_a_discard_is_done_and_audited_when_another_table_does_not_load(settings, registry):
    land(settings, "customers/c.csv", customers_csv(1, 7))
    ingest_dataset(settings, registry["customers"], run_id="customers")
    land(settings, "orders/bad.csv", orders_csv(30, 2) + NO_ORDER_ID)
    suite = suite_of(settings, registry["orders"])
    ingest_dataset(settings, registry["orders"], run_id="bad", keys=["orders/bad.csv"], suite=suite)
    catalog = open_catalog(settings)
    assert "audit-bad" in catalog.load_table("raw.orders").metadata.refs
    broken = ensure_table(catalog, "staging.broken", Schema(NestedField(1, "x", StringType())))
    Path(broken.metadata_location.removeprefix("file://")).unlink()  # `foundation status` lists it BROKEN

    assert discard_held(settings, "raw.orders", "audit-bad", via="cli") == []

    catalog = open_catalog(settings)
    assert "audit-bad" not in catalog.load_table("raw.orders").metadata.refs
    audit = catalog.load_table(AUDIT_TABLE).scan().to_arrow().to_pylist()
    assert [(r["action"], r["run_id"]) for r in audit if r["action"] == "discard"] == [("discard", "bad")]
