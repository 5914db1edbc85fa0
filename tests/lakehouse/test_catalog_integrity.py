"""A lost or broken catalog is never re-created silently; one broken table blocks only its own dataset."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from dagster_project.catch_up import pending_work
from dagster_project.cli import main
from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.catalog_check import check_catalog
from dagster_project.lakehouse.catalog_maintenance import run_maintenance
from dagster_project.lakehouse.catalog_recovery import RecoveryRefused, recover_catalog
from dagster_project.lakehouse.tables import CatalogCorrupt, TableUnreadable, load_table, open_catalog
from dagster_project.status import table_status
from tests.conftest import customers_csv, land, orders_csv


def _tree(settings) -> dict[str, tuple[int, int]]:
    """Every file of the warehouse, landing zone and quarantine with size and mtime."""
    found = {}
    for uri in (settings.warehouse_uri, settings.landing_uri, settings.quarantine_uri):
        root = Path(uri.removeprefix("file://"))
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if path.is_file():
                found[str(path)] = (path.stat().st_size, path.stat().st_mtime_ns)
    return found


def _state(settings) -> dict[str, tuple]:
    """Per table: its rows (sorted) and snapshot ids, as the catalog shows them."""
    catalog = open_catalog(settings)
    state = {}
    for namespace in catalog.list_namespaces():
        for identifier in catalog.list_tables(namespace):
            table = catalog.load_table(identifier)
            rows = sorted(map(str, table.scan().to_arrow().to_pylist())) if table.current_snapshot() else []
            head = table.current_snapshot()
            state[".".join(identifier)] = (
                rows,
                sorted(s.snapshot_id for s in table.snapshots()),
                head.snapshot_id if head else None,
            )
    return state


@pytest.fixture
def landed(settings, registry):
    """raw.orders from two ingests (two snapshots) and raw.customers from one."""
    land(settings, "orders/o1.csv", orders_csv(1, 5))
    ingest_dataset(settings, registry["orders"], run_id="run-o1")
    land(settings, "orders/o2.csv", orders_csv(6, 5))
    ingest_dataset(settings, registry["orders"], run_id="run-o2")
    land(settings, "customers/c1.csv", customers_csv(1, 5))
    ingest_dataset(settings, registry["customers"], run_id="run-c1")
    return settings


def _catalog_db(settings) -> Path:
    return settings.data_dir / "catalog.db"


def _corrupt(path: Path, how: str) -> None:
    if how == "empty":
        path.write_bytes(b"")
    elif how == "garbage":
        path.write_bytes(random.Random(13).randbytes(20_000))
    elif how == "not a catalog":
        path.unlink()
        with sqlite3.connect(path) as con:
            con.execute("create table notes (body text)")
    elif how == "corrupt pages":
        data = bytearray(path.read_bytes())
        data[100:] = random.Random(7).randbytes(len(data) - 100)  # the header survives, the pages do not
        path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["empty", "garbage", "not a catalog", "corrupt pages"])
def test_a_broken_catalog_file_stops_status_and_ingest_and_nothing_is_created(
    landed, registry, how, monkeypatch, capsys
):
    settings = landed
    _corrupt(_catalog_db(settings), how)
    catalog_bytes = _catalog_db(settings).read_bytes()
    land(settings, "orders/o3.csv", orders_csv(11, 5))
    before = _tree(settings)

    with pytest.raises(CatalogCorrupt) as error:
        ingest_dataset(settings, registry["orders"], run_id="after-reset")
    assert str(_catalog_db(settings)) in str(error.value)
    assert "foundation catalog recover" in str(error.value)
    with pytest.raises(CatalogCorrupt):
        table_status(settings)
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    assert main(["status"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the catalog database") and "foundation catalog recover" in err
    assert "No tables yet" not in err

    # Nothing re-ingested, no new table, the catalog file as it was.
    assert _tree(settings) == before
    assert _catalog_db(settings).read_bytes() == catalog_bytes


@pytest.mark.parametrize("how", ["deleted", "empty", "garbage"])
def test_recover_brings_every_table_back_and_ingest_stays_exactly_once(landed, registry, how):
    settings = landed
    expected = _state(settings)
    assert {"raw.orders", "raw.customers", "ops.quarantine", "ops.audit_log"} <= set(expected)
    if how == "deleted":
        _catalog_db(settings).unlink()
    else:
        _corrupt(_catalog_db(settings), how)
    before = _tree(settings)
    with pytest.raises(CatalogCorrupt) as error:
        ingest_dataset(settings, registry["orders"], run_id="after-reset")
    message = str(error.value)
    assert str(_catalog_db(settings)) in message and "foundation catalog recover" in message
    if how != "garbage":  # an empty or missing catalog names the tables it would have lost
        assert settings.warehouse_uri in message and "raw.orders" in message
    assert _tree(settings) == before
    assert _catalog_db(settings).exists() == (how != "deleted")

    with pytest.raises(RecoveryRefused):  # one table of a catalog that is itself broken: not alone
        recover_catalog(settings, tables=["raw.orders"])
    planned = recover_catalog(settings, dry_run=True)
    assert {t.table: t.action for t in planned.tables} == dict.fromkeys(expected, "registered")
    assert _tree(settings) == before  # a dry run changes nothing
    assert _catalog_db(settings).exists() == (how != "deleted")

    report = recover_catalog(settings)
    assert report.ok and {t.table for t in report.tables} == set(expected)
    aside = sorted(settings.data_dir.glob("catalog.db.broken-*"))
    assert len(aside) == (0 if how == "deleted" else 1)  # moved aside, never deleted
    assert _state(settings) == expected
    assert all(c.state == "ok" for c in check_catalog(settings))

    # Exactly once across the recovery: what was ingested is skipped, a new file lands once.
    again = ingest_dataset(settings, registry["orders"], run_id="after-recovery")
    assert again.ingested == [] and {s["file"] for s in again.skipped} == {"orders/o1.csv", "orders/o2.csv"}
    land(settings, "orders/o3.csv", orders_csv(11, 5))
    new = ingest_dataset(settings, registry["orders"], run_id="new-file")
    assert [f["file"] for f in new.ingested] == ["orders/o3.csv"]
    ids = load_table(open_catalog(settings), "raw.orders").scan().to_arrow()["order_id"].to_pylist()
    assert sorted(ids) == list(range(1, 16))


def test_a_missing_catalog_with_an_empty_warehouse_is_a_fresh_installation(settings, registry):
    # A table folder with only its creation metadata (version 0) holds no data: also fresh.
    land(settings, "orders/o1.csv", orders_csv(1, 3))
    ingest_dataset(settings, registry["orders"], run_id="first")
    for path in Path(settings.warehouse_uri.removeprefix("file://")).rglob("*"):
        if path.is_file() and not path.name.startswith("00000-"):
            path.unlink()
    _catalog_db(settings).unlink()
    report = ingest_dataset(settings, registry["customers"], run_id="fresh")
    assert report.snapshot_id is None  # no customers file: nothing to commit, but the catalog opened
    assert _catalog_db(settings).stat().st_size > 0


def _break_metadata(settings, table: str, how: str) -> str:
    location = load_table(open_catalog(settings), table).metadata_location
    path = Path(location.removeprefix("file://"))
    if how == "deleted":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_text("this is not json\n")
    return location


@pytest.mark.parametrize("how", ["deleted", "truncated", "not json"])
def test_a_broken_metadata_file_blocks_only_its_own_dataset(landed, registry, how, monkeypatch, capsys):
    settings = landed
    location = _break_metadata(settings, "raw.orders", how)
    land(settings, "orders/o3.csv", orders_csv(11, 5))
    land(settings, "customers/c2.csv", customers_csv(8, 3))

    with pytest.raises(TableUnreadable) as error:
        ingest_dataset(settings, registry["orders"], run_id="blocked")
    message = str(error.value)
    assert "raw.orders" in message and location in message
    assert "foundation catalog recover --table raw.orders" in message
    other = ingest_dataset(settings, registry["customers"], run_id="goes-on")
    assert [f["file"] for f in other.ingested] == ["customers/c2.csv"]

    status = table_status(settings)
    assert [b["table"] for b in status["broken"]] == ["raw.orders"]
    assert location in status["broken"][0]["error"]
    rows = {t["table"]: t["rows"] for t in status["tables"]}
    assert rows["raw.customers"] == 8 and "raw.orders" not in rows
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    assert main(["status"]) == 1
    out = capsys.readouterr().out
    assert "BROKEN table raw.orders: its current metadata file" in out and "raw.customers" in out

    pending = pending_work(settings)
    assert list(pending.blocked) == ["orders"] and "raw.orders" in pending.blocked["orders"]
    assert all(dataset != "orders" for dataset, _ in pending.files)

    checks = {c.table: c for c in check_catalog(settings)}
    assert checks["raw.orders"].state == "broken" and checks["raw.customers"].state == "ok"
    assert main(["catalog", "check"]) == 1
    assert "BROKEN  raw.orders" in capsys.readouterr().out

    # Recovery points the table back at its newest readable metadata: the second ingest's commit
    # is lost with the file, so o2 is due again and lands once.
    [outcome] = recover_catalog(settings, tables=["raw.orders"]).tables
    assert outcome.action == "repointed" and outcome.metadata != location
    assert (outcome.passed_over != []) == (how != "deleted")
    redo = ingest_dataset(settings, registry["orders"], run_id="after-recovery")
    assert sorted(f["file"] for f in redo.ingested) == ["orders/o2.csv", "orders/o3.csv"]
    ids = load_table(open_catalog(settings), "raw.orders").scan().to_arrow()["order_id"].to_pylist()
    assert sorted(ids) == list(range(1, 16))


def test_maintenance_skips_a_broken_table_and_maintains_the_others(landed):
    settings = landed
    _break_metadata(settings, "raw.orders", "deleted")
    reports = {r.table: r for r in run_maintenance(settings, "expire_snapshots")}
    assert reports["raw.orders"].notes[0].startswith("failed: table raw.orders")
    assert not any(n.startswith("failed") for n in reports["raw.customers"].notes)
    assert reports["raw.customers"].before.snapshots == 1


def test_a_table_dropped_from_the_catalog_is_not_created_again_over_its_data(landed, registry):
    settings = landed
    open_catalog(settings).drop_table("raw.orders")  # the catalog forgets it; its files stay
    land(settings, "orders/o3.csv", orders_csv(11, 5))
    with pytest.raises(CatalogCorrupt) as error:
        ingest_dataset(settings, registry["orders"], run_id="would-reset")
    assert "raw.orders is not in the catalog" in str(error.value)
    assert "foundation catalog recover --table raw.orders" in str(error.value)
    assert not open_catalog(settings).table_exists("raw.orders")
    checks = {c.table: c.state for c in check_catalog(settings)}
    assert checks["raw.orders"] == "unregistered"

    [outcome] = recover_catalog(settings, tables=["raw.orders"]).tables
    assert outcome.action == "registered"
    again = ingest_dataset(settings, registry["orders"], run_id="after")
    assert [f["file"] for f in again.ingested] == ["orders/o3.csv"]


@pytest.mark.slow  # a PostgreSQL server
def test_a_new_postgresql_catalog_beside_old_data_is_an_error_until_recovered(
    settings, registry, pg_server, monkeypatch
):
    from tests.servers.postgres import create_database

    monkeypatch.setenv("PGPASSWORD", pg_server.password)

    def on(database: str):
        uri = pg_server.sqlalchemy_uri(create_database(pg_server, database))
        return settings.__class__(**{**settings.__dict__, "catalog_properties": {"type": "sql", "uri": uri}})

    first = on("catalog_a")
    land(first, "orders/o1.csv", orders_csv(1, 5))
    ingest_dataset(first, registry["orders"], run_id="first")
    expected = _state(first)

    # The deployment is pointed at a new, empty catalog database over the same warehouse.
    second = on("catalog_b")
    before = _tree(second)
    with pytest.raises(CatalogCorrupt) as error:
        ingest_dataset(second, registry["orders"], run_id="would-reset")
    assert "lists no table" in str(error.value) and "raw.orders" in str(error.value)
    assert pg_server.password not in str(error.value)
    assert _tree(second) == before

    report = recover_catalog(second)
    assert report.ok and not report.moved_aside
    assert _state(second) == expected
    assert ingest_dataset(second, registry["orders"], run_id="after").ingested == []


def test_recover_does_not_guess_between_two_newest_metadata_files(landed, registry, monkeypatch, capsys):
    settings = landed
    expected = _state(settings)
    head = Path(load_table(open_catalog(settings), "raw.orders").metadata_location.removeprefix("file://"))
    # A commit that lost a race after writing its metadata file: same table, same version.
    twin = head.with_name(head.name.split("-", 1)[0] + "-00000000-0000-0000-0000-000000000000.metadata.json")
    twin.write_bytes(head.read_bytes())
    _catalog_db(settings).unlink()

    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    assert main(["catalog", "recover"]) == 1
    out = capsys.readouterr().out
    assert "raw.orders: AMBIGUOUS: 2 metadata files at version" in out and str(twin) in out
    assert "raw.customers: registered" in out
    assert not open_catalog(settings).table_exists("raw.orders")  # nothing chosen for it

    assert main(["catalog", "recover", "--table", "raw.orders", "--metadata", f"file://{head}"]) == 0
    assert _state(settings) == expected
    assert main(["catalog", "check"]) == 0


@pytest.mark.slow  # catches up every dataset through Dagster
def test_catch_up_reports_a_broken_table_and_ingests_the_other_datasets(landed):
    import dagster as dg

    from dagster_project.catch_up import catch_up

    settings = landed
    _break_metadata(settings, "raw.orders", "truncated")
    land(settings, "orders/o3.csv", orders_csv(11, 5))
    land(settings, "customers/c2.csv", customers_csv(8, 3))
    outcomes = catch_up(settings, dg.DagsterInstance.ephemeral())
    [blocked] = [o for o in outcomes if o.dataset == "orders"]
    assert blocked.failed and not blocked.materialized and "raw.orders" in blocked.error
    assert "foundation catalog recover --table raw.orders" in blocked.error
    [customers] = [o for o in outcomes if o.dataset == "customers"]
    assert customers.key == "customers/c2.csv" and customers.success and customers.rows == 3


@pytest.mark.slow  # a moto_server
def test_on_an_s3_warehouse_a_lost_catalog_is_found_out_and_recovered(
    tmp_path, registry, s3_server, s3_credentials
):
    import uuid

    from dagster_project.settings import Settings

    bucket = f"warehouse-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    settings = Settings.for_data_dir(
        tmp_path / "data",
        warehouse_uri=f"s3://{bucket}/lake",
        catalog_properties={"type": "sql", "uri": f"sqlite:///{tmp_path / 'data' / 'catalog.db'}"},
        s3_endpoint_url=s3_server.endpoint_url,
        s3_region="us-east-1",
        sensor_min_file_age_seconds=0,
    )
    land(settings, "orders/o1.csv", orders_csv(1, 5))
    ingest_dataset(settings, registry["orders"], run_id="first")
    expected = _state(settings)
    _catalog_db(settings).unlink()

    with pytest.raises(CatalogCorrupt) as error:
        ingest_dataset(settings, registry["orders"], run_id="would-reset")
    assert f"s3://{bucket}/lake" in str(error.value) and "raw.orders" in str(error.value)
    report = recover_catalog(settings)
    assert report.ok and all(t.metadata.startswith(f"s3://{bucket}/lake/") for t in report.tables)
    assert _state(settings) == expected
    assert ingest_dataset(settings, registry["orders"], run_id="after").ingested == []
