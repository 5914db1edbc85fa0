"""No PII in operational data: values planted in hostile files and queries never reach an error.

Every string column of every ops table (but the quarantined rows themselves, `row_data`, which is
data held for review, and a query's own SQL), every quarantine sidecar, the Dagster event log and
metadata of the runs, and every Python log record are scanned for the planted values.
"""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dagster_project.defs.raw.assets import build_raw_assets
from dagster_project.defs.resources import Foundation
from dagster_project.errors import FoundationError
from dagster_project.governance.query import run_query
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.landing.store import local_path
from tests.conftest import CUSTOMERS_HEADER, ORDERS_HEADER, TICKET, customers_csv, land

EMAIL = "zoe.planted-pii@example.org"
PHONE = "+44 20 7946 0777"
NAME = "Zebedee Plantedname"
SECRET = "PLANTED-SECRET-4711"
PLANTED = (EMAIL, PHONE, NAME, SECRET)
# Quarantined rows are kept whole on purpose (nothing is lost); queries are recorded as typed.
DATA_COLUMNS = {"ops.quarantine": {"row_data"}, "ops.audit_log": {"statement"}}


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _land_hostile_files(settings) -> None:
    # A value that does not fit its column: the row is set apart, the message says where and why.
    land(
        settings,
        "customers/wrong_type.csv",
        customers_csv(1, 2) + f"{EMAIL},{NAME},X,{EMAIL},{PHONE},GB,smb,2026-01-01\n",
    )
    # No header: the first line is a customer; a message listing "the columns found" would quote it.
    land(settings, "customers/headerless.csv", f"9,{NAME},Smith,{EMAIL},{PHONE},GB,smb,2026-01-01\n")
    # Not UTF-8 inside a PII value.
    land(
        settings,
        "customers/latin1.csv",
        (CUSTOMERS_HEADER + f"\n10,{NAME}é,Smith,{EMAIL},{PHONE},GB,smb,2026-01-01\n").encode("latin-1"),
    )
    # Ragged CSV: DuckDB's error carries the "Original Line", with its values.
    land(
        settings,
        "orders/ragged.csv",
        f"{ORDERS_HEADER}\n1,1,1,1,1.00,EUR,placed,2026-11-01 10:00:00\n2,{EMAIL},{PHONE}\n",
    )
    # An unterminated quote whose line holds a secret.
    land(settings, "orders/quote.csv", f'{ORDERS_HEADER}\n1,1,1,1,1.00,EUR,"{SECRET},2026-11-01 10:00:00\n')
    # A row dropped by the `drop` expectation (no status) carrying a secret in another column.
    land(settings, "orders/dropped.csv", f"{ORDERS_HEADER}\n5,1,1,1,1.00,{SECRET},,2026-11-01 10:00:00\n")
    ticket = {k: v for k, v in TICKET.items() if k != "ticket_id"}
    # JSON: an email where a number belongs, and a malformed line with a phone in it.
    land(
        settings,
        "support_tickets/t.jsonl",
        json.dumps({**ticket, "ticket_id": 1}) + "\n" + json.dumps({**ticket, "ticket_id": EMAIL}) + "\n",
    )
    land(settings, "support_tickets/broken.jsonl", '{"ticket_id": 3, "subject": "' + PHONE + '" "oops"}\n')
    # Parquet: a phone number in the long key column.
    land(
        settings,
        "products/p.parquet",
        _parquet(pa.table({"product_id": ["1", PHONE], "sku": ["A", "B"], "name": ["a", NAME]})),
    )


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [json.dumps(value, default=str)]


def test_planted_pii_reaches_no_error_sidecar_log_or_ops_column(settings, registry, caplog):
    caplog.set_level(logging.DEBUG)
    _land_hostile_files(settings)
    instance = dg.DagsterInstance.ephemeral()
    assets = build_raw_assets(registry, settings.expectations_dir)
    result = dg.materialize(
        assets,
        resources={"foundation": Foundation.from_settings(settings)},
        instance=instance,
        raise_on_error=False,
    )
    failing = (
        "select cast(email as integer) from raw.customers",  # DuckDB quotes the value it could not cast
        "select cast(phone as date) from raw.customers",
        "select cast(first_name as integer) from raw.customers",
    )
    for sql in failing:
        with pytest.raises(FoundationError):
            run_query(settings, "data_engineer", sql)

    seen: dict[str, list[str]] = {}
    catalog = open_catalog(settings)
    for name in ("ops.quarantine", "ops.audit_log"):
        rows = catalog.load_table(name).scan().to_arrow()
        assert rows.num_rows > 0, f"{name} is empty: nothing was scanned"
        for field in rows.schema:
            if pa.types.is_string(field.type) and field.name not in DATA_COLUMNS[name]:
                seen[f"{name}.{field.name}"] = [v for v in rows[field.name].to_pylist() if v]
    sidecars = list(local_path(settings.quarantine_uri).rglob("*.json"))
    assert len(sidecars) >= 4, sidecars
    seen["sidecars"] = [p.read_text(encoding="utf-8") for p in sidecars]
    events = instance.all_logs(result.run_id)
    seen["dagster events"] = [e.user_message for e in events] + [repr(e.dagster_event) for e in events]
    seen["python logs"] = [r.getMessage() for r in caplog.records]

    leaks = [
        f"{where}: {value!r} in {text[:200]!r}"
        for where, texts in seen.items()
        for text in texts
        for value in PLANTED
        if value in text
    ]
    assert not leaks, "\n".join(leaks)

    # Nothing is lost either: the rows set apart are kept whole for review, readable by the owner only.
    quarantine = catalog.load_table("ops.quarantine").scan().to_arrow().to_pylist()
    kept = " ".join(r["row_data"] or "" for r in quarantine)
    assert EMAIL in kept and PHONE in kept
    reasons = {r["reason"] for r in quarantine}
    assert {"type_conflict", "schema_mismatch", "encoding", "unreadable"} <= reasons, reasons
    with pytest.raises(FoundationError, match="row_data"):
        run_query(settings, "auditor", "select row_data from ops.quarantine")
    assert Path(local_path(settings.quarantine_uri)).exists()
