"""`make dev`: `dagster dev` serves the UI; a dropped file flows to raw, staging and curated, no clicks."""

import pytest

from dagster_project.settings import Settings
from tests.conftest import customers_csv, orders_csv, products_parquet
from tests.servers.dagster_dev import dagster_dev, drop_file, embedded_env, table_rows

pytestmark = pytest.mark.slow


def test_dagster_dev_serves_and_a_dropped_file_flows_to_curated_with_no_clicks(tmp_path):
    data = tmp_path / "data"
    env = embedded_env(
        data, FOUNDATION_SENSOR_INTERVAL_SECONDS="1", FOUNDATION_SENSOR_MIN_FILE_AGE_SECONDS="0"
    )
    with dagster_dev(env, tmp_path / "dev.log") as dev:
        assert "dagster_webserver_version" in dev.info
        settings = Settings.for_data_dir(data)
        # Customers first: the orders suite checks that every order's customer exists.
        drop_file(data / "landing" / "customers", "c.csv", customers_csv(1, 7))
        drop_file(data / "landing" / "products", "p.parquet", products_parquet(1, 5))
        dev.wait_for(lambda: table_rows(settings, "raw.customers") == 7, 150, "the customers run")
        drop_file(data / "landing" / "orders", "dropped.csv", orders_csv(1, 7))
        dev.wait_for(
            lambda: table_rows(settings, "raw.orders") == 7, 150, "the sensor's run to commit raw.orders"
        )
        # The automation sensor takes it on: staging, then the orders fact, with no clicks.
        dev.wait_for(
            lambda: table_rows(settings, "curated.orders") == 7, 240, "curated.orders to hold the new orders"
        )
    assert table_rows(Settings.for_data_dir(data), "staging.stg_orders") == 7
