"""A row with extreme but valid values never fails every later build of a curated model."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dagster_project.catch_up import build_models, catch_up
from dagster_project.lakehouse.tables import open_catalog
from tests.conftest import ORDERS_HEADER, land, small_platform

pytestmark = pytest.mark.slow  # ingests and runs a dbt build end to end


def test_the_smallest_int_quantity_builds_curated_orders(tmp_path):
    settings, instance = small_platform(tmp_path)
    # -2147483648 fits raw's int column, then overflowed discount_amount's decimal(12,2) on every build.
    land(
        settings,
        "orders/extreme.csv",
        f"{ORDERS_HEADER}\n900,1,5,-2147483648,10.00,EUR,placed,2026-11-01 10:00:00\n",
    )
    catch_up(settings, instance)
    success, models = build_models(settings, instance)
    assert success, [m for m in models if m.gate != "passed"]
    rows = open_catalog(settings).load_table("curated.orders").scan().to_arrow().to_pylist()
    [extreme] = [r for r in rows if r["order_id"] == 900]
    assert extreme["quantity"] == -2147483648
    assert extreme["discount_amount"] == Decimal(-2147483648) * extreme["unit_price"] - Decimal("10.00")
