"""Orphan removal refuses, deleting nothing, when the warehouse holds data no table ever referenced."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog import load_catalog
from pyiceberg.exceptions import CommitFailedException

from dagster_project.cli import main
from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.catalog_maintenance import run_maintenance
from dagster_project.lakehouse.table_maintenance import OrphanRemovalRefused, remove_orphan_files
from dagster_project.lakehouse.tables import RAW_TABLE_PROPERTIES, open_catalog, raw_schema
from dagster_project.lakehouse.warehouse import metadata_version
from tests.conftest import customers_csv, land, orders_csv


def _warehouse(settings) -> Path:
    return Path(settings.warehouse_uri.removeprefix("file://"))


def _files(settings) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in sorted(_warehouse(settings).rglob("*")) if p.is_file()}


def _age_everything(settings, days: float = 3) -> None:
    stamp = (datetime.now(UTC) - timedelta(days=days)).timestamp()
    for path in _warehouse(settings).rglob("*"):
        if path.is_file():
            os.utime(path, (stamp, stamp))


def _one_order(table, order_id: int) -> pa.Table:
    """One raw.orders row (other columns empty)."""
    schema = table.schema().as_arrow()
    row = dict.fromkeys(schema.names)
    row["order_id"] = order_id
    return pa.Table.from_pylist([row], schema=schema)


def _new_catalog(settings):
    return load_catalog(settings.catalog_name, **settings.resolved_catalog_properties())


def _new_catalog_beside_old_data(settings, registry):
    """What the old `open_catalog` did after catalog.db was lost: a new catalog, raw.orders ingested anew."""
    (settings.data_dir / "catalog.db").unlink()
    catalog = _new_catalog(settings)  # pyiceberg itself: no checks
    catalog.create_namespace("raw")
    table = catalog.create_table(
        "raw.orders", raw_schema(registry["orders"]), properties=RAW_TABLE_PROPERTIES
    )
    table.append(_one_order(table, 1))
    return table


@pytest.fixture
def old_data(settings, registry):
    for i in range(4):
        land(settings, f"orders/o{i}.csv", orders_csv(1 + 5 * i, 5))
        ingest_dataset(settings, registry["orders"], run_id=f"run-{i}")
    land(settings, "customers/c1.csv", customers_csv(1, 5))
    ingest_dataset(settings, registry["customers"], run_id="run-c")
    return settings


def test_orphan_removal_refuses_beside_old_data_and_deletes_nothing(old_data, registry, monkeypatch, capsys):
    settings = old_data
    _new_catalog_beside_old_data(settings, registry)
    _age_everything(settings)  # past the grace period: only the refusal protects the old files
    before = _files(settings)

    # The catalog-wide check: raw.customers and ops.* are folders the new catalog does not list.
    with pytest.raises(OrphanRemovalRefused) as refused:
        run_maintenance(settings, "remove_orphan_files")
    assert "raw.customers" in str(refused.value) and "foundation catalog recover" in str(refused.value)
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(settings.data_dir))
    assert main(["maintain", "remove_orphan_files"]) == 2
    assert "refusing to remove orphan files" in capsys.readouterr().err

    # The table's own check: its location holds another table's metadata (the old raw.orders).
    table = _new_catalog(settings).load_table("raw.orders")
    with pytest.raises(OrphanRemovalRefused) as refused:
        remove_orphan_files(table, older_than=timedelta(0))
    assert "another table" in str(refused.value) and "--metadata" in str(refused.value)
    assert _files(settings) == before


def test_orphan_removal_refuses_old_data_files_in_bulk_without_their_metadata(old_data, registry):
    settings = old_data
    table = _new_catalog_beside_old_data(settings, registry)
    keep = {table.metadata_location, *(e.metadata_file for e in table.metadata.metadata_log)}
    for path in (_warehouse(settings) / "raw" / "orders" / "metadata").glob("*.metadata.json"):
        if f"file://{path}" not in keep:
            path.unlink()  # the old table's metadata is gone: only its data, manifests and lists are left
    _age_everything(settings)
    before = _files(settings)
    with pytest.raises(OrphanRemovalRefused) as refused:
        remove_orphan_files(table, older_than=timedelta(0))
    assert "were never referenced by any metadata file of this table" in str(refused.value)
    assert _files(settings) == before


def test_leftovers_of_lost_commit_races_are_still_removed(settings):
    catalog = open_catalog(settings)
    catalog.create_namespace_if_not_exists("staging")
    table = catalog.create_table(
        "staging.things",
        pa.schema([pa.field("x", pa.int64())]),
        properties={"commit.retry.num-retries": "0"},
    )
    losers = [catalog.load_table("staging.things") for _ in range(8)]
    table.append(pa.table({"x": pa.array([1], pa.int64())}))
    for n, loser in enumerate(losers):
        with pytest.raises(CommitFailedException):  # each leaves the data file it wrote
            loser.append(pa.table({"x": pa.array([100 + n], pa.int64())}))
    # A writer that lost the race after writing its metadata file leaves that too (same table).
    current = Path(catalog.load_table("staging.things").metadata_location.removeprefix("file://"))
    lost = current.with_name(f"{metadata_version(current.name) + 1:05d}-{uuid.uuid4()}.metadata.json")
    shutil.copy(current, lost)
    _age_everything(settings)
    report = remove_orphan_files(catalog.load_table("staging.things"), older_than=timedelta(hours=24))
    assert report.files_removed == 8 + 1 and not lost.exists()
    assert catalog.load_table("staging.things").scan().to_arrow()["x"].to_pylist() == [1]
