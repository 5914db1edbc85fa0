"""The production profile for real: landing and warehouse on an S3 endpoint over HTTP (moto_server),
Iceberg catalog and Dagster storage on PostgreSQL 15, both started by the tests."""

import dataclasses
import json
import uuid
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from dagster_project.catch_up import build_models, catch_up
from dagster_project.defs.raw.sensors import build_landing_sensor
from dagster_project.defs.resources import Foundation
from dagster_project.demo.commands import sync_sample_data
from dagster_project.governance.query import run_query
from dagster_project.lakehouse.catalog_maintenance import catalog_tables, run_maintenance
from dagster_project.lakehouse.ops_tables.audit import AUDIT_TABLE, read_audit_log
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
from dagster_project.status import table_status
from tests.servers.postgres import create_database

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def production(tmp_path, s3_server, s3_credentials, pg_server, monkeypatch):
    """Settings for a fresh landing bucket, warehouse bucket and PostgreSQL database."""
    monkeypatch.setenv("PGPASSWORD", pg_server.password)
    suffix = uuid.uuid4().hex[:8]
    database = create_database(pg_server, f"foundation_{suffix}")
    client = s3_server.client()
    landing, warehouse = f"landing-{suffix}", f"warehouse-{suffix}"
    for bucket in (landing, warehouse):
        client.create_bucket(Bucket=bucket)
    settings = Settings.for_data_dir(
        tmp_path / "data",
        landing_uri=f"s3://{landing}/incoming",
        warehouse_uri=f"s3://{warehouse}/lake",
        quarantine_uri=f"s3://{landing}/_quarantine",
        catalog_properties={"type": "sql", "uri": pg_server.sqlalchemy_uri(database)},
        s3_endpoint_url=s3_server.endpoint_url,
        s3_region="us-east-1",
        sensor_min_file_age_seconds=0,
    )
    # The instance file the project ships for PostgreSQL (compose uses it too), as `make dev` would.
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "docker" / "dagster.yaml").read_text())
    for name, value in (
        ("HOST", pg_server.host),
        ("PORT", str(pg_server.port)),
        ("USER", pg_server.user),
        ("DB", database),
        ("PASSWORD", pg_server.password),
    ):
        monkeypatch.setenv(f"DAGSTER_PG_{name}", value)
    return {
        "settings": settings,
        "client": client,
        "landing": landing,
        "warehouse": warehouse,
        "database": database,
        "home": home,
        "pg": pg_server,
    }


def _upload_sample(production) -> list[str]:
    written = sync_sample_data(production["settings"], seed=42, scale=1.0)
    assert (
        written and sync_sample_data(production["settings"], seed=42, scale=1.0) == []
    )  # unchanged: no upload
    return written


def _catch_up(production) -> list:
    instance = dg.DagsterInstance.from_config(str(production["home"]))
    outcomes = catch_up(production["settings"], instance)
    assert not [o for o in outcomes if o.failed]
    return outcomes


def test_landing_to_raw_on_s3_and_postgres(production, tmp_path):
    settings, client = production["settings"], production["client"]
    _upload_sample(production)
    outcomes = _catch_up(production)
    assert [o.key for o in outcomes if o.held_back] == ["orders/orders_2026-11-06_bad_batch.csv"]

    status = table_status(settings)
    rows = {t["table"]: t["rows"] for t in status["tables"]}
    assert rows["raw.orders"] > 2000 and rows["raw.customers"] > 200 and rows["raw.products"] == 50
    assert all(t["location"].startswith(f"s3://{production['warehouse']}/lake") for t in status["tables"])
    data_files = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=production["warehouse"])
        for o in page.get("Contents", [])
        if o["Key"].endswith(".parquet")
    ]
    assert any("/raw/orders/data/_ingested_day=" in key for key in data_files)

    # The malformed file: copied to quarantine on S3 with its sidecar, original untouched.
    [malformed] = [q for q in status["quarantine"] if "malformed" in q["file"]]
    assert malformed["file"].startswith(f"s3://{production['landing']}/incoming/orders/")
    copy_key = malformed["quarantine_file"].removeprefix(f"s3://{production['landing']}/")
    sidecar = json.loads(
        client.get_object(Bucket=production["landing"], Key=copy_key + ".json")["Body"].read()
    )
    assert sidecar["reason"] == "unreadable" and sidecar["dataset"] == "orders"
    original = malformed["file"].removeprefix(f"s3://{production['landing']}/")
    assert client.head_object(Bucket=production["landing"], Key=original)["ContentLength"] > 0

    # The catalog and Dagster's runs live in PostgreSQL.
    connection = psycopg2.connect(
        host=production["pg"].host,
        port=production["pg"].port,
        user=production["pg"].user,
        dbname=production["database"],
    )
    with connection, connection.cursor() as cursor:
        cursor.execute("select table_namespace, table_name from iceberg_tables order by 1, 2")
        assert ("raw", "orders") in cursor.fetchall()
        cursor.execute("select count(*) from runs")
        assert cursor.fetchone()[0] == len({o.run_id for o in outcomes})  # one run per dataset's batch
    connection.close()

    # Exactly once: a second catch-up finds nothing to do.
    assert _catch_up(production) == []
    again = {t["table"]: t["rows"] for t in table_status(settings)["tables"]}
    assert again == rows


def test_s3_sensor_uses_etags_and_sees_modified_objects(production):
    settings, client = production["settings"], production["client"]
    dataset = load_registry(settings.sources_file)["orders"]
    body = "order_id,customer_id,product_id,quantity,amount,currency,status,ordered_at\n"
    client.put_object(
        Bucket=production["landing"],
        Key="incoming/orders/a.csv",
        Body=body + "1,1,1,1,1.00,EUR,placed,2026-11-01 10:00:00\n",
    )
    sensor = build_landing_sensor(dataset, 15)
    context = dg.build_sensor_context(
        instance=dg.DagsterInstance.ephemeral(), resources={"foundation": Foundation.from_settings(settings)}
    )
    first = sensor(context)
    [request] = first.run_requests
    etag = client.head_object(Bucket=production["landing"], Key="incoming/orders/a.csv")["ETag"].strip('"')
    assert request.run_key == f"orders:orders/a.csv:{etag}"
    assert request.run_config["ops"]["raw__orders"]["config"]["files"] == ["orders/a.csv"]

    client.put_object(
        Bucket=production["landing"],
        Key="incoming/orders/a.csv",
        Body=body + "2,1,1,1,1.00,EUR,placed,2026-11-01 10:00:00\n",
    )
    context = dg.build_sensor_context(
        cursor=first.cursor,
        instance=dg.DagsterInstance.ephemeral(),
        resources={"foundation": Foundation.from_settings(settings)},
    )
    second = sensor(context)
    assert len(second.run_requests) == 1 and second.run_requests[0].run_key != request.run_key


def test_s3_endpoint_stopped_mid_tick_fails_the_tick_and_keeps_the_cursor(production, s3_server, monkeypatch):
    from dagster_project.landing import s3 as s3_module

    settings, client = production["settings"], production["client"]
    dataset = load_registry(settings.sources_file)["orders"]
    keys = [f"incoming/orders/{i:04d}.csv" for i in range(30)]
    for key in keys:
        client.put_object(Bucket=production["landing"], Key=key, Body=b"order_id\n1\n")
    real_list = s3_module.S3Landing.list

    def list_then_lose_the_endpoint(self, prefix, skipped=None):
        for index, item in enumerate(real_list(self, prefix, skipped)):
            if index == 10:
                s3_server.stop()  # the endpoint dies in the middle of the tick's listing
            yield item

    monkeypatch.setattr(s3_module.S3Landing, "list", list_then_lose_the_endpoint)
    monkeypatch.setattr(s3_module.S3Landing, "page_size", 10)
    sensor = build_landing_sensor(dataset, 15)
    resources = {"foundation": Foundation.from_settings(settings)}
    context = dg.build_sensor_context(
        cursor=None, instance=dg.DagsterInstance.ephemeral(), resources=resources
    )
    try:
        with pytest.raises(Exception, match="did not answer") as failure:
            sensor(context)
        assert s3_server.endpoint_url in str(failure.value)
        assert context.cursor is None
    finally:
        s3_server.start()
    monkeypatch.setattr(s3_module.S3Landing, "list", real_list)
    # moto forgets its state on restart: the files land again, the next tick hands out each once.
    client.create_bucket(Bucket=production["landing"])
    for key in keys:
        client.put_object(Bucket=production["landing"], Key=key, Body=b"order_id\n1\n")
    [request] = sensor(context).run_requests
    assert sorted(request.run_config["ops"]["raw__orders"]["config"]["files"]) == sorted(
        k.removeprefix("incoming/") for k in keys
    )


def test_s3_endpoint_lost_mid_run_fails_the_attempt_and_the_retry_completes(
    tmp_path, s3_server, s3_credentials, registry, monkeypatch
):
    from dagster_project.defs.raw import assets as assets_module
    from dagster_project.defs.raw.assets import build_raw_asset
    from dagster_project.lakehouse.tables import open_catalog
    from dagster_project.landing import s3 as s3_module
    from tests.conftest import orders_csv

    client = s3_server.client()
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    files = {f"orders/{name}.csv": orders_csv(first, 3) for name, first in (("a", 1), ("b", 4), ("c", 7))}

    def seed():
        client.create_bucket(Bucket=bucket)
        for key, body in files.items():
            client.put_object(Bucket=bucket, Key=key, Body=body.encode())

    seed()
    settings = Settings.for_data_dir(  # landing on S3, warehouse local: only the landing zone goes away
        tmp_path / "data",
        landing_uri=f"s3://{bucket}",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_region="us-east-1",
        sensor_min_file_age_seconds=0,
    )
    real_fetch = s3_module.S3Landing.fetch
    fetched = []

    def fetch_then_lose_the_endpoint(self, file, scratch):
        fetched.append(file.key)
        if len(fetched) == 2:
            s3_server.stop()  # the endpoint dies while the run reads its second file, and stays down
        return real_fetch(self, file, scratch)

    real_retry = assets_module.raise_for_retry

    def back_before_the_retry(*args, **kwargs):
        # It is back (moto restarts empty: land the files again) before Dagster retries the step.
        s3_server.start()
        seed()
        return real_retry(*args, **kwargs)

    monkeypatch.setattr(s3_module.S3Landing, "fetch", fetch_then_lose_the_endpoint)
    monkeypatch.setattr(assets_module, "raise_for_retry", back_before_the_retry)
    result = dg.materialize(
        [build_raw_asset(registry["orders"])], resources={"foundation": Foundation.from_settings(settings)}
    )
    assert result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1
    ids = open_catalog(settings).load_table("raw.orders").scan().to_arrow()["order_id"].to_pylist()
    assert sorted(ids) == list(range(1, 10))  # every file exactly once


def test_staging_and_curated_models_publish_to_iceberg_on_s3_and_postgres(production):
    settings = production["settings"]
    _upload_sample(production)
    _catch_up(production)
    instance = dg.DagsterInstance.from_config(str(production["home"]))
    success, models = build_models(settings, instance)
    assert success, models
    # Every model of the dbt project (the build's list, not one kept by hand) passed its gate.
    passed = {m.table for m in models if m.gate == "passed"}
    assert passed == {m.table for m in models} and {"staging.stg_orders", "curated.orders"} <= passed
    tables = {t["table"]: t for t in table_status(settings)["tables"]}
    assert tables["curated.orders"]["rows"] == tables["staging.stg_orders"]["rows"] > 2000
    for name in ("staging.stg_orders", "curated.customer_features"):
        assert tables[name]["location"].startswith(f"s3://{production['warehouse']}/lake")
    # Nothing new: the second build writes nothing.
    success, again = build_models(settings, instance)
    assert success and all(m.rows_written == 0 for m in again)


def _all_rows(settings) -> dict[str, list[str]]:
    catalog = open_catalog(settings)
    return {
        name: sorted(map(str, catalog.load_table(name).scan().to_arrow().to_pylist()))
        for name in catalog_tables(catalog)
        if name != AUDIT_TABLE
    }


def test_governance_on_s3_and_postgres(production):
    """Cards, a governed query, the audit log and all three maintenance operations on S3 + PostgreSQL."""
    settings = dataclasses.replace(
        production["settings"],
        maintenance_retention_days=0,
        maintenance_keep_last=1,
        maintenance_orphan_grace_hours=0,
        compaction_min_files=2,
    )
    client, warehouse = production["client"], production["warehouse"]
    _upload_sample(production)
    _catch_up(production)
    instance = dg.DagsterInstance.from_config(str(production["home"]))
    success, _ = build_models(settings, instance)
    assert success
    assert (settings.cards_dir / "curated.orders.html").exists()

    result = run_query(settings, "analyst", "select count(*) as n from curated.orders")
    assert result.rows.to_pylist()[0]["n"] > 2000

    # A file an aborted write left in the table's data folder on S3.
    stray = "lake/raw/orders/data/aborted-write.parquet"
    client.put_object(Bucket=warehouse, Key=stray, Body=b"PAR1 not referenced PAR1")
    before = _all_rows(settings)
    for operation in ("compact", "expire_snapshots", "remove_orphan_files"):
        reports = run_maintenance(settings, operation, run_id=f"maintenance-{operation}")
        assert not [r.notes for r in reports if any(n.startswith("failed:") for n in r.notes)]
    assert _all_rows(settings) == before
    assert "Contents" not in client.list_objects_v2(Bucket=warehouse, Prefix=stray)
    raw_orders = open_catalog(settings).load_table("raw.orders")
    assert len(raw_orders.metadata.snapshots) < 7  # expired down to what is kept

    # Exactly once survives the expiry: the landing zone is handled, nothing is ingested again.
    assert [o for o in catch_up(settings, instance) if o.rows] == []
    audit = read_audit_log(open_catalog(settings)).to_pylist()
    actions = {e["action"] for e in audit}
    assert {"publish", "query", "maintenance"} <= actions
