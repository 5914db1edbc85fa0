"""Models never get stuck: after a failed build, a publish that raised or a rebuild of raw, the next
`foundation ingest` (or the rebuild itself) builds what is behind, and a failure prints its cause.

Run in a copy of the repository (`checkout`), so that a model can be broken and fixed as a user would.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField

from dagster_project.lakehouse.changes import NotAppendOnly, appended_since
from dagster_project.lakehouse.tables import ensure_table, open_catalog
from tests.conftest import customers_csv, orders_csv, products_parquet
from tests.onboard.conftest import Checkout, checkout  # noqa: F401

STG_ORDERS = "dbt_project/models/staging/stg_orders.sql"
# The first model publish raises, as a lost object store would; the others must still be published.
FIRST_PUBLISH_RAISES = """
import sys
import dagster_project.transform.build as build
real = build._publish_one
calls = []
def first_fails(*args, **kwargs):
    calls.append(args[4].table)
    if len(calls) == 1:
        raise RuntimeError("the object store went away")
    return real(*args, **kwargs)
build._publish_one = first_fails
from dagster_project.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _rows(checkout: Checkout) -> dict[str, int]:  # noqa: F811
    status = checkout.run(".venv/bin/foundation status --json")
    assert status.returncode == 0, status.stderr[-2000:]
    return {t["table"]: t["rows"] for t in json.loads(status.stdout)["tables"]}


@pytest.mark.slow
def test_failed_builds_and_rebuilds_are_caught_up_and_failures_print_their_cause(checkout):  # noqa: F811
    checkout.landing("customers/c.csv").write_text(customers_csv(1, 7))
    checkout.landing("products/p.parquet").write_bytes(products_parquet(1, 5))
    checkout.landing("orders/o.csv").write_text(orders_csv(1, 5))
    model = checkout.root / STG_ORDERS
    good = model.read_text()
    model.write_text(
        good.replace("upper(trim(currency)) as currency", "upper(trim(no_such_column)) as currency")
    )
    (checkout.root / "first_publish_raises.py").write_text(FIRST_PUBLISH_RAISES)
    parsed = checkout.run("cd dbt_project && ../.venv/bin/dbt parse --profiles-dir . --quiet")  # make setup
    assert parsed.returncode == 0, parsed.stdout[-2000:]

    broken = checkout.run(".venv/bin/python first_publish_raises.py ingest")

    out = broken.stdout
    assert broken.returncode == 1, out + broken.stderr[-3000:]
    assert "the dbt run FAILED, 2 model(s):" in out
    # Each failing model with the cause under dbt's first line, not only "Runtime Error in model …".
    orders_line = next(line for line in out.splitlines() if line.startswith("    staging.stg_orders: "))
    assert "Runtime Error: " in orders_line and "no_such_column" in orders_line, out
    failed = "publish to Iceberg failed: RuntimeError: the object store went away"
    publish_line = next(line for line in out.splitlines() if failed in line)
    first = publish_line.split(":")[0].strip()
    other = ({"staging.stg_customers", "staging.stg_products"} - {first}).pop()
    assert "whole dbt log: " in out and "dbt/target/run_results.json" in out
    rows = _rows(checkout)
    # One publish raising did not stop the next one.
    assert rows[other] > 0 and not rows.get(first) and not rows.get("staging.stg_orders")

    model.write_text(good)  # the user fixes the model; nothing new lands
    fixed = checkout.run(".venv/bin/foundation ingest")

    assert fixed.returncode == 0, fixed.stdout + fixed.stderr[-3000:]
    assert "staging.stg_orders: behind: never built from raw.orders" in fixed.stdout
    assert f"{first}: behind: " in fixed.stdout
    rows = _rows(checkout)
    assert rows["staging.stg_orders"] == 5 and rows["staging.stg_customers"] == 7
    assert rows["staging.stg_products"] == 5 and rows["curated.orders"] == 5

    rebuilt = checkout.run(".venv/bin/foundation rebuild raw.customers")

    out = rebuilt.stdout
    assert rebuilt.returncode == 0, out + rebuilt.stderr[-3000:]
    # The swap is a delete and an append: the models reading raw.customers are rebuilt in full, now.
    refresh = next(
        line for line in out.splitlines() if line.startswith("  staging.stg_customers: full refresh:")
    )
    assert "raw.customers: commit " in refresh and " is a delete " in refresh, out
    assert "an delete" not in out and "FAILED" not in out
    assert _rows(checkout)["staging.stg_customers"] == 7

    again = checkout.run(".venv/bin/foundation ingest")
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    assert "nothing to build" in again.stdout, again.stdout


def test_a_table_swapped_by_a_rebuild_reads_in_full_and_names_the_delete(settings):
    # Cheap proof of the full refresh the rebuild leads to: reading from 0 (a first or full build) after
    # the swap's delete gives the table as it is now; reading on from a watermark names the delete.
    catalog = open_catalog(settings)
    schema = Schema(NestedField(1, "id", LongType(), required=False))
    table = ensure_table(catalog, "raw.things", schema)
    table.append(pa.table({"id": pa.array([1, 2, 3], pa.int64())}))
    watermark = table.current_snapshot().sequence_number
    with table.transaction() as tx:  # what `foundation rebuild` commits: delete every row, add the new ones
        tx.delete(AlwaysTrue())
        tx.append(pa.table({"id": pa.array([1, 2], pa.int64())}))

    assert sorted(appended_since(table, 0)["id"].to_pylist()) == [1, 2]
    with pytest.raises(
        NotAppendOnly, match=r"raw.things: commit \d+ is a delete; rebuild its consumers in full"
    ):
        appended_since(table, watermark)


def test_a_model_held_back_by_its_gate_waits_for_a_person_not_another_build(settings):
    # Its last build did not publish (the working database's marker is not main's head). When the
    # publish failed, the model is behind and the next ingest builds it; when its gate held the batch
    # back, building the same inputs again would only hold another copy: it waits for release/discard.
    from dagster_project.lakehouse.held import discard, held_batches
    from dagster_project.lakehouse.merge import ensure_model_table, merge_audit_publish
    from dagster_project.lakehouse.wap import AuditFailed, Verdict
    from dagster_project.transform import working_db
    from dagster_project.transform.behind import models_behind
    from dagster_project.transform.build import manifest_models

    manifest = {
        "nodes": {
            "model.p.things": {
                "resource_type": "model",
                "name": "things",
                "config": {"schema": "curated", "unique_key": "id"},
                "depends_on": {"nodes": []},
            }
        },
        "sources": {},
    }
    [model] = manifest_models(manifest).values()
    rows = pa.table({"id": pa.array([1, 2], pa.int64())})
    table = ensure_model_table(open_catalog(settings), "curated.things", rows.schema)
    published = merge_audit_publish(
        table, rows, key=["id"], run_id="r1", audit=lambda *_: Verdict(True), summary={}
    )
    con = working_db.connect(settings)
    working_db.mark_published(con, model, published.snapshot_id + 1)  # a later build that did not publish
    con.close()
    assert models_behind(settings, manifest)["curated.things"].reason == "its last build did not publish"

    with pytest.raises(AuditFailed):
        merge_audit_publish(
            table, rows, key=["id"], run_id="r2", audit=lambda *_: Verdict(False, "ids_in_range"), summary={}
        )
    [held] = held_batches(table)
    assert "curated.things" not in models_behind(settings, manifest)
    discard(table, held.branch)  # a person decided: the next ingest builds it again
    assert "curated.things" in models_behind(settings, manifest)


def test_a_first_batch_held_back_by_its_gate_is_not_built_again_from_the_same_raw_rows(settings):
    # The model's first batch was held: main has no watermark, yet the held batch read the raw table up
    # to its head. Building again would only hold another copy (a user saw one more per ingest).
    from dagster_project.lakehouse.changes import WATERMARK_PROPERTY
    from dagster_project.lakehouse.held import discard, held_batches
    from dagster_project.lakehouse.merge import ensure_model_table, merge_audit_publish
    from dagster_project.lakehouse.tables import ensure_namespace
    from dagster_project.lakehouse.wap import AuditFailed, Verdict
    from dagster_project.transform.behind import models_behind

    catalog = open_catalog(settings)
    ensure_namespace(catalog, "raw")
    raw = catalog.create_table("raw.src", schema=pa.schema([pa.field("id", pa.int64())]))
    raw.append(pa.table({"id": pa.array([1, 2], pa.int64())}))
    head = raw.current_snapshot().sequence_number
    manifest = {
        "nodes": {
            "model.p.stg_src": {
                "resource_type": "model",
                "name": "stg_src",
                "config": {"schema": "staging", "unique_key": "id"},
                "depends_on": {"nodes": ["source.p.raw.src"]},
            }
        },
        "sources": {"source.p.raw.src": {"meta": {"iceberg_table": "raw.src"}}},
    }
    rows = pa.table({"id": pa.array([1, 2], pa.int64())})
    table = ensure_model_table(catalog, "staging.stg_src", rows.schema)
    assert models_behind(settings, manifest)["staging.stg_src"].reason == "has read nothing of raw.src"
    with pytest.raises(AuditFailed):
        merge_audit_publish(
            table,
            rows,
            key=["id"],
            run_id="r1",
            audit=lambda *_: Verdict(False, "ids_in_range"),
            summary={WATERMARK_PROPERTY: json.dumps({"raw.src": head})},
        )
    [held] = held_batches(table)
    assert "staging.stg_src" not in models_behind(settings, manifest)
    raw.append(pa.table({"id": pa.array([3], pa.int64())}))  # new rows: built again, with them
    assert "staging.stg_src" in models_behind(settings, manifest)
    discard(table, held.branch)
    assert "staging.stg_src" in models_behind(settings, manifest)
