"""Schema drift evolves the table; bad files go to quarantine with a reason; originals stay."""

import json

from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.landing.store import local_path
from tests.conftest import ORDERS_HEADER, land, orders_csv


def _table(settings):
    return open_catalog(settings).load_table("raw.orders")


def test_new_column_evolves_the_table_and_missing_column_becomes_null(settings, registry):
    land(settings, "orders/a.csv", orders_csv(1, 2))
    land(settings, "orders/b.csv", orders_csv(3, 2, extra_header="discount_code", extra_value="XMAS"))
    missing_status = "\n".join(
        line.rsplit(",", 2)[0] + "," + line.rsplit(",", 1)[1]
        for line in orders_csv(5, 2).strip().splitlines()
    )
    land(settings, "orders/c.csv", missing_status + "\n")
    report = ingest_dataset(settings, registry["orders"], run_id="r")
    assert report.rows == 6 and report.quarantined == []
    assert report.new_columns == {"discount_code": "string"}
    table = _table(settings)
    assert table.schema().find_field("discount_code").optional
    assert table.snapshots()[-1].schema_id == table.schema().schema_id  # evolved in the same commit
    rows = {r["order_id"]: r for r in table.scan().to_arrow().to_pylist()}
    assert rows[1]["discount_code"] is None and rows[3]["discount_code"] == "XMAS"
    assert rows[5]["status"] is None and rows[5]["ordered_at"] is not None
    # A later file with the drifted column typed differently is cast to the table's type.
    land(settings, "orders/d.csv", orders_csv(7, 1, extra_header="discount_code", extra_value="42"))
    assert ingest_dataset(settings, registry["orders"], run_id="r2").rows == 1
    assert _table(settings).scan().to_arrow().num_rows == 7


def test_bad_files_are_quarantined_good_files_still_land_and_originals_stay(settings, registry):
    land(settings, "orders/good.csv", orders_csv(1, 3))
    bad = {
        "orders/empty.csv": b"",
        "orders/header_only.csv": (ORDERS_HEADER + "\n").encode(),
        "orders/latin1.csv": (ORDERS_HEADER + "\n1,1,1,1,1.00,EUR,plac\xe9,2026-11-01 10:00:00\n").encode(
            "latin-1"
        ),
        "orders/type_conflict.csv": (
            orders_csv(10, 3) + "13,1,1,one,1.00,EUR,placed,2026-11-01 10:00:00\n"
        ).encode(),
        "orders/garbage.csv": bytes(range(256)) * 8,
        "orders/ragged.csv": (ORDERS_HEADER + '\n1,2,3\n4,5,6,7,8,9,10,11,12,13\n"unterminated,1\n').encode(),
    }
    before = {}
    for key, content in bad.items():
        path = land(settings, key, content)
        before[key] = (path.read_bytes(), path.stat().st_mtime_ns)
    report = ingest_dataset(settings, registry["orders"], run_id="run-q")

    # A value that does not fit its type sets its row apart; the rest of that file lands.
    assert [f["file"] for f in report.ingested] == ["orders/good.csv", "orders/type_conflict.csv"]
    reasons = {q.source_file.rsplit("/", 1)[-1]: q for q in report.quarantined}
    assert set(reasons) == {k.split("/")[1] for k in bad} - {"type_conflict.csv"}
    assert reasons["empty.csv"].reason == "empty"
    assert reasons["header_only.csv"].reason == "no_rows"
    assert reasons["latin1.csv"].reason == "encoding"
    [conflict] = report.rejected_rows
    assert conflict.reason == "type_conflict" and conflict.scope == "row"
    assert conflict.column_name == "quantity" and conflict.line == 5
    assert "type_conflict.csv" in conflict.message and "`foundation rebuild raw.orders`" in conflict.message
    assert "one" not in conflict.message  # never the value itself
    assert json.loads(conflict.row_data)["quantity"] == "one"  # the row as landed, kept
    assert reasons["ragged.csv"].reason == "unreadable"
    assert reasons["ragged.csv"].line == 2 and "header has 8 columns" in reasons["ragged.csv"].message

    for key, (content, mtime) in before.items():
        original = local_path(settings.landing_uri) / key
        assert original.read_bytes() == content and original.stat().st_mtime_ns == mtime
    for record in report.quarantined:
        copy = local_path(record.quarantine_file)
        assert copy.parent == local_path(settings.quarantine_uri) / "orders"
        sidecar = json.loads(copy.with_name(copy.name + ".json").read_text())
        assert sidecar["reason"] == record.reason and sidecar["run_id"] == "run-q"
        assert sidecar["source_file"] == record.source_file
    logged = read_quarantine(open_catalog(settings))
    assert logged.num_rows == len(bad)
    assert set(logged["reason"].to_pylist()) >= {"empty", "no_rows", "encoding", "type_conflict"}
    assert _table(settings).scan().to_arrow().num_rows == 3 + 3


def test_quarantined_version_is_not_retried_unless_asked(settings, registry):
    path = land(
        settings, "orders/x.csv", orders_csv(1, 1).replace("EUR,placed", "EUR,placed").replace(".50", "x")
    )
    first = ingest_dataset(settings, registry["orders"], run_id="r1")
    assert len(first.quarantined) == 1
    second = ingest_dataset(settings, registry["orders"], run_id="r2")
    assert second.quarantined == [] and second.skipped == [
        {"file": "orders/x.csv", "why": "already quarantined"}
    ]
    path.write_text(orders_csv(1, 1))  # fixed file: a new version
    assert ingest_dataset(settings, registry["orders"], run_id="r3").rows == 1


def test_file_for_another_dataset_is_a_schema_mismatch(settings, registry):
    land(settings, "orders/wrong.csv", "ticket_id,body\n1,hello\n")
    report = ingest_dataset(settings, registry["orders"], run_id="r")
    assert report.quarantined[0].reason == "schema_mismatch"
    assert "is a declared column of orders" in report.quarantined[0].message
