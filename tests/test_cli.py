"""The `foundation` command: the headless demo is repeatable and status reports every table."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _foundation(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FOUNDATION_DATA_DIR": str(data_dir)}
    env.pop("DAGSTER_HOME", None)
    env.pop("FOUNDATION_LANDING_URI", None)
    return subprocess.run(
        [sys.executable, "-m", "dagster_project", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_demo_twice_adds_nothing_the_second_time_and_status_reports_it(tmp_path):
    first = _foundation(tmp_path, "demo")
    assert first.returncode == 0, first.stderr[-3000:]
    assert "RUN FAILED" not in first.stdout
    # The sample's bad batch is held back by the quality gate, and the summary says so.
    assert "orders/orders_2026-11-06_bad_batch.csv was held back on audit-" in first.stdout
    assert "order_id_not_null" in first.stdout
    status = json.loads(_foundation(tmp_path, "status", "--json").stdout)
    tables = {t["table"]: t for t in status["tables"]}
    assert {"raw.customers", "raw.products", "raw.orders", "raw.support_tickets", "ops.quarantine"} <= set(
        tables
    )
    assert all(tables[t]["rows"] > 0 for t in tables)
    malformed = [q for q in status["quarantine"] if "malformed" in q["file"]]
    assert len(malformed) == 1 and malformed[0]["dataset"] == "orders"
    assert Path(malformed[0]["quarantine_file"].removeprefix("file://")).exists()
    [held] = status["held_back"]
    assert held["table"] == "raw.orders" and held["files"][0][0].endswith("bad_batch.csv")
    assert status["dropped_rows"] == {"orders: status_not_null": 12}
    # The knowledge base went through the document layer, and search answers from it with citations.
    assert "curated: 13 document(s), 11 indexed" in first.stdout
    assert "not indexed: shipping_copy.md: exact duplicate of shipping.md" in first.stdout
    assert tables["curated.document_chunks"]["rows"] > 0 and tables["raw.documents"]["rows"] == 13
    question = "how many days do I have to return an item?"
    found = _foundation(tmp_path, "search", "--as", "data_engineer", question, "-k", "3")
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.startswith("1. [") and "documents/returns.md § Returns and refunds" in found.stdout
    legal = json.loads(
        _foundation(
            tmp_path, "search", "--as", "data_engineer", "data", "--where", "department=legal", "--json"
        ).stdout
    )
    assert legal and {h["citation"]["source_file"] for h in legal} == {"documents/privacy_policy.pdf"}
    # The governance tour: cards for every staging and curated table, a governed query, a denial.
    assert "data cards: 9 in " in first.stdout
    assert len(list((tmp_path / "cards").glob("*.html"))) == 9
    assert "customer_segment" in first.stdout and "enterprise" in first.stdout
    assert "denied: persona 'analyst' may not read column(s) email_hash" in first.stdout
    # Demo runs are recorded in the demo's Dagster instance, so `make dev` shows them.
    assert any((tmp_path / "dagster_home").rglob("*.db"))

    second = _foundation(tmp_path, "demo")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "0 new or changed file(s)" in second.stdout
    assert "0 file version(s) to ingest" in second.stdout
    assert "documents: +0 document version(s)" in second.stdout
    assert "chunks of 0 new or changed document(s): 0 embedded" in second.stdout
    assert "0 document(s) removed" in second.stdout
    again = json.loads(_foundation(tmp_path, "status", "--json").stdout)
    rows_again = {t["table"]: t["rows"] for t in again["tables"]}
    # A second demo publishes nothing; only its two queries (and the two searches above, one audit
    # row each) reach the audit log.
    assert rows_again.pop("ops.audit_log") == tables["ops.audit_log"]["rows"] + 2 + 2
    assert rows_again == {t: tables[t]["rows"] for t in tables if t != "ops.audit_log"}
    log = _foundation(
        tmp_path,
        "query",
        "--as",
        "auditor",
        "select action, outcome, count(*) as n from ops.audit_log group by 1, 2 order by 1, 2",
        "--format",
        "json",
    )
    assert log.returncode == 0, log.stderr[-2000:]
    counts = {(r["action"], r["outcome"]): r["n"] for r in json.loads(log.stdout)}
    assert counts[("query", "ok")] == 2 and counts[("query_denied", "denied")] == 2
    assert counts[("publish", "ok")] >= 7 + 4  # every model and raw dataset published at least once
    assert len(again["quarantine"]) == len(status["quarantine"])
    assert again["held_back"] == status["held_back"]
    text = _foundation(tmp_path, "status").stdout
    assert "raw.orders" in text and "quarantined files: 1" in text


def test_status_on_an_empty_platform_says_what_to_do(tmp_path):
    result = _foundation(tmp_path, "status")
    assert result.returncode == 0
    assert "make demo" in result.stdout


def test_an_emptied_catalog_is_a_one_line_error_and_catalog_recover_restores_every_table(tmp_path):
    from dagster_project.ingest.run import ingest_dataset
    from dagster_project.registry import load_registry
    from dagster_project.settings import Settings
    from tests.conftest import land, orders_csv

    settings = Settings.for_data_dir(tmp_path, sensor_min_file_age_seconds=0)
    land(settings, "orders/o1.csv", orders_csv(1, 5))
    ingest_dataset(settings, load_registry(settings.sources_file)["orders"], run_id="first")
    before = json.loads(_foundation(tmp_path, "status", "--json").stdout)["tables"]
    (tmp_path / "catalog.db").write_bytes(b"")  # e.g. a full disk while it was written

    status = _foundation(tmp_path, "status")
    assert status.returncode == 2 and status.stdout == ""
    assert status.stderr.count("\n") == 1 and "Traceback" not in status.stderr
    assert "catalog.db is empty (0 bytes)" in status.stderr and "foundation catalog recover" in status.stderr
    assert (tmp_path / "catalog.db").stat().st_size == 0  # nothing was created in it

    recovered = _foundation(tmp_path, "catalog", "recover")
    assert recovered.returncode == 0, recovered.stderr[-2000:]
    assert "moved aside (not deleted)" in recovered.stdout and "raw.orders: registered" in recovered.stdout
    assert json.loads(_foundation(tmp_path, "status", "--json").stdout)["tables"] == before
    checked = _foundation(tmp_path, "catalog", "check")
    assert checked.returncode == 0 and "0 broken, 0 not in the catalog" in checked.stdout
