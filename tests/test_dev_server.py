"""`make dev`: `dagster dev` serves the UI; a dropped file flows to raw, staging and curated, no clicks."""

import os
from pathlib import Path

import pytest

from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.conftest import customers_csv, orders_csv, products_parquet
from tests.servers.dagster_dev import ROOT, dagster_dev

pytestmark = pytest.mark.slow


def _drop(folder: Path, name: str, content: str | bytes) -> None:
    """Land a file as writers should: under a hidden name, then renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    data = content.encode() if isinstance(content, str) else content
    (folder / f".{name}.tmp").write_bytes(data)
    (folder / f".{name}.tmp").rename(folder / name)


def _rows(settings: Settings, table_name: str) -> int:
    try:
        table = open_catalog(settings).load_table(table_name)
    except Exception:  # noqa: BLE001 - not created yet
        return 0
    return 0 if table.current_snapshot() is None else int(table.current_snapshot().summary["total-records"])


def test_dagster_dev_serves_and_a_dropped_file_flows_to_curated_with_no_clicks(tmp_path):
    data = tmp_path / "data"
    home = data / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster_project" / "dagster.yaml").read_text())
    env = {
        **os.environ,
        "FOUNDATION_DATA_DIR": str(data),
        "DAGSTER_HOME": str(home),
        "FOUNDATION_SENSOR_INTERVAL_SECONDS": "1",
        "FOUNDATION_SENSOR_MIN_FILE_AGE_SECONDS": "0",
    }
    with dagster_dev(env, tmp_path / "dev.log") as dev:
        assert "dagster_webserver_version" in dev.info
        settings = Settings.for_data_dir(data)
        # Customers first: the orders suite checks that every order's customer exists.
        _drop(data / "landing" / "customers", "c.csv", customers_csv(1, 7))
        _drop(data / "landing" / "products", "p.parquet", products_parquet(1, 5))
        dev.wait_for(lambda: _rows(settings, "raw.customers") == 7, 150, "the customers run")
        _drop(data / "landing" / "orders", "dropped.csv", orders_csv(1, 7))
        dev.wait_for(lambda: _rows(settings, "raw.orders") == 7, 150, "the sensor's run to commit raw.orders")
        # The automation sensor takes it on: staging, then the orders fact, with no clicks.
        dev.wait_for(
            lambda: _rows(settings, "curated.orders") == 7, 240, "curated.orders to hold the new orders"
        )
    assert _rows(Settings.for_data_dir(data), "staging.stg_orders") == 7
