"""Transient failures of the catalog database are retried with backoff; a lasting one fails clearly."""

import sqlite3
import threading

import dagster as dg
import pytest

from dagster_project.defs.raw.assets import build_raw_asset
from dagster_project.defs.resources import Foundation
from dagster_project.lakehouse.tables import ensure_raw_table, open_catalog
from tests.conftest import land, orders_csv
from tests.servers.postgres import create_database, postgres_server

pytestmark = pytest.mark.slow


def _retries(result) -> int:
    return sum(1 for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY")


def test_catalog_locked_longer_than_sqlite_waits_is_retried(settings, registry):
    ensure_raw_table(open_catalog(settings), registry["orders"])
    land(settings, "orders/a.csv", orders_csv(1, 3))
    blocker = sqlite3.connect(settings.data_dir / "catalog.db", isolation_level=None, check_same_thread=False)
    # Another process holds the catalog database for longer than SQLite's own busy wait (5 s).
    blocker.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(12, blocker.execute, args=("ROLLBACK",))
    release.start()
    try:
        result = dg.materialize(
            [build_raw_asset(registry["orders"])],
            resources={"foundation": Foundation.from_settings(settings)},
        )
    finally:
        release.join()
        blocker.close()
    assert result.success and _retries(result) >= 1
    table = open_catalog(settings).load_table("raw.orders")
    assert table.scan().to_arrow().num_rows == 3


def test_catalog_database_down_fails_after_retries_with_a_clear_message(settings, registry, monkeypatch):
    land(settings, "orders/a.csv", orders_csv(1, 3))
    with postgres_server() as server:
        monkeypatch.setenv("PGPASSWORD", server.password)
        uri = server.sqlalchemy_uri(create_database(server, "down"))
    # The server is gone now: every connection is refused.
    down = settings.__class__(**{**settings.__dict__, "catalog_properties": {"type": "sql", "uri": uri}})
    result = dg.materialize(
        [build_raw_asset(registry["orders"])],
        resources={"foundation": Foundation.from_settings(down)},
        raise_on_error=False,
    )
    assert not result.success and _retries(result) == 3
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.user_failure_data.description
    assert "Iceberg catalog database" in message and "still failing after 3 retries" in message
    assert uri in message and "nothing was published twice" in message
