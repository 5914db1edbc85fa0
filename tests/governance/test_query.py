"""Governed queries over the sample pipeline: denials, masks, row filters, bypasses, time travel, audit."""

from __future__ import annotations

import json

import pytest

from dagster_project.governance.policy import UnknownPersona
from dagster_project.governance.query import AsOfError, QueryDenied, QueryRejected, run_query
from dagster_project.lakehouse.ops_tables.audit import read_audit_log
from dagster_project.lakehouse.tables import open_catalog


def _audit_rows(settings, statement: str) -> list[dict]:
    rows = read_audit_log(open_catalog(settings)).to_pylist()
    return [r for r in rows if r["statement"] == statement]


def _query(built, persona: str, sql: str, **kwargs) -> list[dict]:
    return run_query(built.settings, persona, sql, **kwargs).rows.to_pylist()


def test_data_engineer_reads_raw_pii_and_the_query_is_audited(sample_built):
    sql = "select email from raw.customers where email is not null limit 3"
    rows = _query(sample_built, "data_engineer", sql)
    assert len(rows) == 3 and all("@" in r["email"] for r in rows)
    (event,) = _audit_rows(sample_built.settings, sql)
    assert event["action"] == "query" and event["persona"] == "data_engineer" and event["outcome"] == "ok"
    assert event["rows"] == 3 and json.loads(event["tables"]) == ["raw.customers"]
    head = open_catalog(sample_built.settings).load_table("raw.customers").current_snapshot().snapshot_id
    assert json.loads(event["snapshot_ids"]) == {"raw.customers": head}
    assert event["actor"]


def test_denied_table_names_persona_table_and_what_is_readable_and_is_audited(sample_built):
    sql = "select count(*) from raw.customers"
    with pytest.raises(QueryDenied) as caught:
        run_query(sample_built.settings, "analyst", sql)
    message = str(caught.value)
    assert "persona 'analyst' may not read raw.customers" in message
    readable = message.split("readable tables: ")[1]
    assert "curated.orders" in readable and "staging.stg_customers" in readable and "raw." not in readable
    (event,) = _audit_rows(sample_built.settings, sql)
    assert (event["action"], event["outcome"], event["persona"]) == ("query_denied", "denied", "analyst")
    assert "may not read raw.customers" in event["message"]


def test_denied_column_and_select_star_over_it_are_refused(sample_built):
    for sql in (
        "select email_hash from staging.stg_customers",
        "select * from staging.stg_customers",
        "select c.segment from staging.stg_customers c where c.email_hash is not null",
    ):
        with pytest.raises(QueryDenied, match=r"column\(s\) email_hash of staging.stg_customers"):
            run_query(sample_built.settings, "analyst", sql)
        assert _audit_rows(sample_built.settings, sql)[0]["action"] == "query_denied"
    rows = _query(sample_built, "analyst", "select * exclude (email_hash) from staging.stg_customers")
    assert rows and "email_hash" not in rows[0]
    # The hint about `*` only when the statement has one.
    with pytest.raises(QueryDenied) as named:
        run_query(sample_built.settings, "analyst", "select email_hash from staging.stg_customers")
    assert "select *" not in str(named.value)
    with pytest.raises(QueryDenied, match=r"a select \* includes them"):
        run_query(sample_built.settings, "analyst", "select * from staging.stg_customers")


def test_refusals_and_unknown_personas_are_audited_apart_from_policy_denials(sample_built):
    typo = "select nope from curated.orders"
    with pytest.raises(QueryRejected):
        run_query(sample_built.settings, "analyst", typo)
    (event,) = _audit_rows(sample_built.settings, typo)
    assert (event["action"], event["outcome"]) == ("query_rejected", "refused")
    sql = "select count(*) from curated.orders where 1 = 1"
    with pytest.raises(UnknownPersona):
        run_query(sample_built.settings, "nobody", sql)
    (event,) = _audit_rows(sample_built.settings, sql)
    assert (event["action"], event["persona"]) == ("query_rejected", "nobody")
    assert "no persona 'nobody'" in event["message"]


def test_masks_apply_compared_with_the_unrestricted_result(sample_built):
    sql = (
        "select customer_id, customer_initials, phone_last_digits, signup_date "
        "from staging.stg_customers order by customer_id"
    )
    full = _query(sample_built, "data_engineer", sql)
    masked = _query(sample_built, "analyst", sql)
    assert [r["customer_id"] for r in masked] == [r["customer_id"] for r in full]
    assert any(r["customer_initials"] for r in full) and all(r["customer_initials"] is None for r in masked)
    assert all(r["phone_last_digits"] == "••" for r in masked)
    assert {str(r["signup_date"])[8:10] for r in masked} == {"01"}
    assert any(str(r["signup_date"])[8:10] != "01" for r in full)
    # keep_last: only the last 4 characters show
    domains = _query(sample_built, "analyst", "select email_domain from curated.customer_features")
    full_domains = _query(sample_built, "data_engineer", "select email_domain from curated.customer_features")
    for m, f in zip(domains, full_domains, strict=True):
        if f["email_domain"]:
            assert m["email_domain"].endswith(f["email_domain"][-4:]) and set(m["email_domain"][:-4]) <= {"•"}


def test_a_mask_filter_cannot_reveal_the_original(sample_built):
    # Filtering on a masked column sees the masked value, never the original.
    sql = "select count(*) n from staging.stg_customers where customer_initials is not null"
    rows = _query(sample_built, "analyst", sql)
    assert rows == [{"n": 0}]


def test_hashed_keys_hide_ids_but_still_join(sample_built):
    sql = (
        "select count(*) n, count(distinct f.customer_id) customers from curated.orders o "
        "join curated.customer_features f on o.customer_id = f.customer_id"
    )
    assert _query(sample_built, "data_scientist", sql) == _query(sample_built, "data_engineer", sql)
    ids = _query(sample_built, "data_scientist", "select customer_id from curated.customer_features limit 5")
    assert all(isinstance(r["customer_id"], str) and len(r["customer_id"]) == 64 for r in ids)


def test_row_filter_applies(sample_built):
    sql = "select ticket_id, status from curated.support_tickets order by ticket_id"
    full = _query(sample_built, "data_engineer", sql)
    seen = _query(sample_built, "support_agent", sql)
    assert seen == [r for r in full if r["status"] != "solved"]
    assert 0 < len(seen) < len(full)
    counted = _query(sample_built, "support_agent", "select count(*) n from curated.support_tickets")
    assert counted == [{"n": len(seen)}]


@pytest.mark.parametrize(
    ("sql", "error", "message"),
    [
        ("select * from read_parquet('{warehouse}/raw/customers/data/*/*')", QueryRejected, "read_parquet"),
        ("select * from iceberg_scan('{warehouse}/raw/customers')", QueryRejected, "iceberg_scan"),
        ("select * from '{warehouse}/raw/customers/data/x.parquet'", QueryRejected, "unknown table"),
        ("attach '{warehouse}/../catalog.db' as c", QueryRejected, "only SELECT is allowed, not ATTACH"),
        ("copy (select 1) to '/tmp/x.csv'", QueryRejected, "only SELECT is allowed"),
        ("install httpfs", QueryRejected, "only SELECT is allowed"),
        ("set enable_external_access = true", QueryRejected, "only SELECT is allowed"),
        ("pragma database_list", QueryRejected, "only SELECT is allowed"),
        ("select 1; select * from raw.customers", QueryRejected, "exactly one SELECT"),
        ("select * from query_table('raw.customers')", QueryRejected, "query_table"),
        ("select query('select * from raw.customers')", QueryRejected, "query()"),
        ("select getenv('HOME')", QueryRejected, "getenv"),
        ("select columns('.*') from staging.stg_customers", QueryRejected, "columns()"),
        ("with customers as (select 1 x) select * from raw.customers", QueryDenied, "raw.customers"),
        ("with customers as (select 1 x) select * from customers, raw.customers", QueryDenied, "raw"),
        (
            "select * from curated.orders where customer_id in (select customer_id from raw.customers)",
            QueryDenied,
            "may not read raw.customers",
        ),
        ("select * from (select * from raw.customers) t", QueryDenied, "may not read raw.customers"),
        ("select * from stg_customers", QueryRejected, "unknown table 'stg_customers'"),
        ("select t from staging.stg_customers t", QueryRejected, "is a table"),
    ],
)
def test_bypass_attempts_fail(sample_built, sql, error, message):
    warehouse = sample_built.settings.warehouse_uri.removeprefix("file://")
    with pytest.raises(error) as caught:
        run_query(sample_built.settings, "analyst", sql.format(warehouse=warehouse))
    assert message in str(caught.value)


def test_as_of_a_snapshot_id_and_a_timestamp_read_the_earlier_rows(tmp_path):
    # Two batches, two snapshots: the sample data lands each dataset in one batch, so it has one.
    from datetime import UTC, datetime

    from dagster_project.ingest.run import ingest_dataset
    from dagster_project.registry import load_registry
    from dagster_project.settings import Settings
    from tests.conftest import land, orders_csv

    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0)
    orders = load_registry(settings.sources_file)["orders"]
    land(settings, "orders/a.csv", orders_csv(1, 5))
    ingest_dataset(settings, orders, run_id="r1")
    land(settings, "orders/b.csv", orders_csv(6, 7))
    ingest_dataset(settings, orders, run_id="r2")
    table = open_catalog(settings).load_table("raw.orders")
    with_rows = [s for s in table.snapshots() if int(s.summary["total-records"]) > 0]
    first, current = with_rows[0], table.current_snapshot()
    earlier = int(first.summary["total-records"])
    assert (earlier, int(current.summary["total-records"])) == (5, 12)
    sql = "select count(*) n from raw.orders"
    by_id = run_query(settings, "data_engineer", sql, as_of=str(first.snapshot_id))
    assert by_id.rows.to_pylist() == [{"n": earlier}]
    assert by_id.snapshot_ids == {"raw.orders": first.snapshot_id}
    entry = next(e for e in table.metadata.snapshot_log if e.snapshot_id == first.snapshot_id)
    moment = datetime.fromtimestamp(entry.timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds")
    by_time = run_query(settings, "data_engineer", sql, as_of=moment)
    assert by_time.rows.to_pylist() == [{"n": earlier}]
    assert run_query(settings, "data_engineer", sql).rows.to_pylist() == [{"n": 12}]


def test_as_of_errors_say_what_is_wrong(sample_built):
    sql = "select count(*) from raw.orders"
    with pytest.raises(AsOfError, match="belongs to none of the tables the query reads, raw.orders"):
        run_query(sample_built.settings, "data_engineer", sql, as_of="1234567890123")
    with pytest.raises(AsOfError, match="raw.orders had no snapshot at 2001-01-01"):
        run_query(sample_built.settings, "data_engineer", sql, as_of="2001-01-01T00:00:00Z")
    with pytest.raises(AsOfError, match="neither a snapshot id nor an ISO timestamp"):
        run_query(sample_built.settings, "data_engineer", sql, as_of="yesterday")


def test_select_star_exclude_of_a_readable_column(settings):
    from dagster_project.governance.query import run_query
    from tests.governance.conftest import make_lake

    make_lake(settings)
    result = run_query(settings, "data_engineer", "select * exclude (phone) from raw.people order by id")
    assert result.rows.column_names == ["id", "email"] and result.rows.num_rows == 3
