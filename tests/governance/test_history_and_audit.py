"""History lists runs and source files; raw ingests and dbt builds leave `publish` rows in ops.audit_log."""

from __future__ import annotations

import json
import logging
import threading

import pytest

from dagster_project.cli import main
from dagster_project.governance.history import table_history
from dagster_project.identity import os_account
from dagster_project.lakehouse.ops_tables.audit import AuditEvent, read_audit_log, record
from dagster_project.lakehouse.publish import FILES_PROPERTY, RUN_PROPERTY
from dagster_project.lakehouse.tables import open_catalog


def test_history_lists_run_ids_and_source_files_of_raw_ingests(sample_built):
    table = open_catalog(sample_built.settings).load_table("raw.orders")
    entries = table_history(table)
    on_main = [e for e in entries if e.branch == "main"]
    assert on_main[0].snapshot_id == table.current_snapshot().snapshot_id
    assert [e.committed_at for e in on_main] == sorted((e.committed_at for e in on_main), reverse=True)
    files = {f.rsplit("/", 1)[-1]: e.run_id for e in on_main for f in e.source_files}
    assert "orders_2026-11-01.csv" in files and "orders_2026-11-05_schema_drift.csv" in files
    for e in on_main:
        summary = table.metadata.snapshot_by_id(e.snapshot_id).summary.additional_properties
        assert e.run_id == summary.get(RUN_PROPERTY)
        assert e.source_files == [uri for uri, _ in json.loads(summary.get(FILES_PROPERTY, "[]"))]
    (held,) = [e for e in entries if e.branch != "main"]
    assert held.branch.startswith("audit-") and held.source_files[0].endswith(
        "orders_2026-11-06_bad_batch.csv"
    )
    assert len(table_history(table, limit=2)) == 2 + 1  # two of main, then the held batch


def test_history_of_a_model_shows_its_run_and_watermarks(sample_built, monkeypatch, capsys):
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(sample_built.settings.data_dir))
    assert main(["history", "curated.orders", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert entries[0]["run_id"] and entries[0]["dbt_invocation"]
    assert main(["history", "raw.customers", "--limit", "5"]) == 0
    out = capsys.readouterr().out
    assert "customers_2026-11-01.csv" in out and "run id" in out
    assert main(["history", "raw.nope"]) == 2
    assert "no table raw.nope" in capsys.readouterr().err


def test_raw_ingest_and_dbt_build_write_publish_rows_with_their_snapshots(sample_built):
    catalog = open_catalog(sample_built.settings)
    events = [e for e in read_audit_log(catalog).to_pylist() if e["action"] == "publish"]
    raw_orders = catalog.load_table("raw.orders")
    main_ids = {e.snapshot_id for e in table_history(raw_orders) if e.branch == "main" and e.source_files}
    raw_events = [e for e in events if json.loads(e["tables"]) == ["raw.orders"]]
    assert {json.loads(e["snapshot_ids"])["raw.orders"] for e in raw_events} == main_ids
    assert all(e["run_id"] and "raw ingest" in e["statement"] and e["rows"] > 0 for e in raw_events)
    assert not any("bad_batch" in e["statement"] for e in raw_events), "a held-back batch is no publish"
    for table in ("staging.stg_orders", "curated.orders", "curated.customer_features"):
        (event,) = [e for e in events if json.loads(e["tables"]) == [table]]
        head = catalog.load_table(table).current_snapshot().snapshot_id
        assert json.loads(event["snapshot_ids"]) == {table: head}
        assert event["rows"] > 0 and event["outcome"] == "ok"


def test_cli_prints_rows_and_exits_non_zero_with_the_message_on_denial(sample_built, monkeypatch, capsys):
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(sample_built.settings.data_dir))
    sql = "select segment, count(*) n from curated.customer_features group by 1 order by 1"
    assert main(["query", "--as", "analyst", sql]) == 0
    out = capsys.readouterr().out
    assert "segment" in out and "consumer" in out and "row(s); read curated.customer_features@" in out
    assert main(["query", "--as", "analyst", sql, "--format", "json"]) == 0
    assert {r["segment"] for r in json.loads(capsys.readouterr().out)} == {"consumer", "smb", "enterprise"}
    assert main(["query", "--as", "analyst", "select * from raw.customers"]) == 3
    err = capsys.readouterr().err
    assert "denied: persona 'analyst' may not read raw.customers; readable tables:" in err
    assert main(["query", "--as", "nobody", sql]) == 2
    assert "no persona 'nobody'" in capsys.readouterr().err
    rows = read_audit_log(open_catalog(sample_built.settings)).to_pylist()
    assert any(r["actor"] == os_account() and r["action"] == "query_denied" for r in rows)


def test_concurrent_audit_appends_lose_nothing(settings):
    catalog = open_catalog(settings)
    record(catalog, settings, [AuditEvent("query", ["curated.orders"], persona="analyst")])

    def write(i: int) -> None:
        record(open_catalog(settings), settings, [AuditEvent("publish", [f"t.{i}"], run_id=str(i))] * 3)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert read_audit_log(catalog).num_rows == 1 + 4 * 3


def test_an_audit_write_failure_warns_and_does_not_raise(settings, caplog):
    class BrokenCatalog:
        def load_table(self, identifier):
            raise OSError("disk full")

    with caplog.at_level(logging.WARNING):
        written = record(BrokenCatalog(), settings, [AuditEvent("publish", ["raw.orders"], run_id="r1")])  # type: ignore[arg-type]
    assert written is False
    assert "ops.audit_log: could not record 1 event(s) (publish): disk full" in caplog.text


@pytest.mark.parametrize(
    ("bad", "message"),
    [("ATTACH 'x' AS y", "only SELECT is allowed, not ATTACH"), ("select 1; select 2", "exactly one SELECT")],
)
def test_cli_refuses_anything_but_one_select(sample_built, monkeypatch, capsys, bad, message):
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(sample_built.settings.data_dir))
    assert main(["query", "--as", "data_engineer", bad]) == 2
    assert message in capsys.readouterr().err
