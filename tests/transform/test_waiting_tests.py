"""A dbt test that reads a model with no data yet is not run (reported why), rather than failing the run."""

from __future__ import annotations

import io

import pyarrow as pa
import pytest

from dagster_project.ingest_landed import EXIT_MODELS_FAILED, EXIT_OK, ingest_command
from dagster_project.lakehouse.tables import ensure_table, open_catalog
from dagster_project.transform.waiting_tests import exclude_args, not_run_by_model, waiting_tests
from tests.conftest import customers_csv, land, orders_csv, products_parquet

RELATIONSHIP = "relationships_stg_orders_product_id__product_id__ref_stg_products_"
MANIFEST = {
    "nodes": {
        "model.p.stg_orders": {
            "resource_type": "model",
            "name": "stg_orders",
            "config": {"schema": "staging"},
            "depends_on": {"nodes": []},
        },
        "model.p.stg_products": {
            "resource_type": "model",
            "name": "stg_products",
            "config": {"schema": "staging"},
            "depends_on": {"nodes": []},
        },
        "test.p.rel": {
            "resource_type": "test",
            "name": RELATIONSHIP,
            "fqn": ["p", "staging", RELATIONSHIP],
            "attached_node": "model.p.stg_orders",
            "depends_on": {"nodes": ["model.p.stg_products", "model.p.stg_orders"]},
        },
        "test.p.unique": {
            "resource_type": "test",
            "name": "unique_stg_orders_order_id",
            "fqn": ["p", "staging", "unique_stg_orders_order_id"],
            "attached_node": "model.p.stg_orders",
            "depends_on": {"nodes": ["model.p.stg_orders"]},
        },
    },
    "sources": {},
}


def test_a_test_reading_a_model_with_no_table_that_is_not_built_now_waits(settings):
    catalog = open_catalog(settings)
    waiting = waiting_tests(MANIFEST, catalog, {"model.p.stg_orders"})
    assert waiting == {"test.p.rel": "staging.stg_products has no data yet"}
    assert not_run_by_model(MANIFEST, waiting) == {
        "model.p.stg_orders": {RELATIONSHIP: "staging.stg_products has no data yet"}
    }
    assert exclude_args(MANIFEST, waiting) == ["--exclude", f"p.staging.{RELATIONSHIP}"]
    # Built in the same run, or with a table: the test runs (and gates) as any other.
    assert waiting_tests(MANIFEST, catalog, {"model.p.stg_orders", "model.p.stg_products"}) == {}
    ensure_table(catalog, "staging.stg_products", pa.schema([("product_id", pa.int64())]))
    assert waiting_tests(MANIFEST, catalog, {"model.p.stg_orders"}) == {}
    assert exclude_args(MANIFEST, {}) == []


@pytest.mark.slow  # two ingests with dbt builds, end to end
def test_orders_before_products_publish_and_the_relationship_test_waits_then_gates(settings):
    land(settings, "customers/c1.csv", customers_csv(1, 7))
    land(settings, "orders/o1.csv", orders_csv(1, 5))
    out = io.StringIO()
    assert ingest_command(settings, ["customers", "orders", "products"], out=out) == EXIT_OK, out.getvalue()
    text = out.getvalue()
    assert f"not run: {RELATIONSHIP}: staging.stg_products has no data yet" in text, text
    assert "FAILED" not in text and "HELD BACK" not in text, text
    # No support ticket landed: the models reading them wait, on this ingest as on the next.
    tickets_wait = "  curated.customer_features: not built, it reads staging.stg_support_tickets,"
    assert "  staging.stg_support_tickets: not built, it reads raw.support_tickets," in text, text
    assert tickets_wait in text, text
    orders = open_catalog(settings).load_table("staging.stg_orders")
    assert sorted(orders.scan().to_arrow()["order_id"].to_pylist()) == [1, 2, 3, 4, 5]
    assert not [b for b in orders.refs() if b.startswith("audit-")]

    # Products land, and an order of a product that does not exist: the test runs and holds it back.
    land(settings, "products/p1.parquet", products_parquet(1, 5))
    bad = orders_csv(6, 2).replace("\n7,1,3,", "\n7,1,99,")
    land(settings, "orders/o2.csv", bad)
    out = io.StringIO()
    code = ingest_command(settings, ["customers", "orders", "products"], out=out)
    text = out.getvalue()
    assert code == EXIT_MODELS_FAILED, text
    assert tickets_wait in text, text
    assert f"failed: {RELATIONSHIP}" in text and "not run" not in text, text
    orders.refresh()
    assert 7 not in orders.scan().to_arrow()["order_id"].to_pylist()
