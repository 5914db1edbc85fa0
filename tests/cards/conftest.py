"""A small platform built through curated, for the card tests that publish again or regenerate cards."""

from __future__ import annotations

import dagster as dg
import pytest

from dagster_project.catch_up import build_models, catch_up
from dagster_project.settings import Settings
from tests.conftest import customers_csv, land, orders_csv, products_parquet


@pytest.fixture
def platform(tmp_path):
    """Customers, products and orders ingested and built through curated, on a small scale."""
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0)
    instance = dg.DagsterInstance.ephemeral()
    land(settings, "customers/c1.csv", customers_csv(1, 7))
    land(settings, "products/p1.parquet", products_parquet(1, 5))
    land(settings, "orders/o1.csv", orders_csv(1, 20))
    catch_up(settings, instance)
    success, models = build_models(settings, instance)
    assert success, models
    return settings, instance
