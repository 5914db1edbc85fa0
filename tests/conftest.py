"""Shared fixtures: an embedded-profile platform rooted in a temporary directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dagster_project.registry import Registry, load_registry
from dagster_project.settings import Settings
from tests.servers.postgres import pg_server  # noqa: F401 - fixture, started on first use
from tests.servers.ray_cluster import ray_cluster  # noqa: F401 - fixture, started on first use
from tests.servers.s3 import s3_credentials, s3_server  # noqa: F401 - fixtures, started on first use

if TYPE_CHECKING:
    import dagster as dg

    from dagster_project.catch_up import ModelRun

ORDERS_HEADER = "order_id,customer_id,product_id,quantity,amount,currency,status,ordered_at"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0)


@pytest.fixture
def registry(settings: Settings) -> Registry:
    return load_registry(settings.sources_file)


@dataclass
class Built:
    settings: Settings
    instance: dg.DagsterInstance
    success: bool
    models: list[ModelRun]


@pytest.fixture(scope="session")
def sample_built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`make demo` in a temporary folder, shared by the session: sample files → raw → staging → curated."""
    import dagster as dg

    from dagster_project.catch_up import build_models, catch_up
    from dagster_project.demo.commands import sync_sample_data

    data = tmp_path_factory.mktemp("sample") / "data"
    settings = Settings.for_data_dir(data, sensor_min_file_age_seconds=0)
    sync_sample_data(settings, seed=42, scale=1.0)
    instance = dg.DagsterInstance.ephemeral()
    catch_up(settings, instance)
    success, models = build_models(settings, instance)
    return Built(settings, instance, success, models)


def orders_csv(first_id: int, count: int, extra_header: str = "", extra_value: str = "") -> str:
    """A small valid orders CSV (optionally with one drifted column)."""
    header = ORDERS_HEADER + (f",{extra_header}" if extra_header else "")
    lines = [header]
    for i in range(first_id, first_id + count):
        row = f"{i},{i % 7 + 1},{i % 5 + 1},{i % 3 + 1},{i}.50,EUR,placed,2026-11-01 10:{i % 60:02d}:00"
        lines.append(row + (f",{extra_value}" if extra_header else ""))
    return "\n".join(lines) + "\n"


# A valid support ticket (JSON lines), to vary one field at a time.
TICKET = {
    "ticket_id": 1,
    "customer_id": 1,
    "channel": "email",
    "priority": "low",
    "status": "open",
    "subject": "s",
    "body": "b",
    "created_at": "2026-11-01 09:00:00",
}


CUSTOMERS_HEADER = "customer_id,first_name,last_name,email,phone,country,segment,signup_date"


def customers_csv(first_id: int, count: int) -> str:
    """A small valid customers CSV (ids match the customer ids `orders_csv` uses: 1..7)."""
    lines = [CUSTOMERS_HEADER]
    for i in range(first_id, first_id + count):
        lines.append(
            f"{i},Ada{i},Lovelace,ada{i}@example.com,+44 20 7946 0{i:03d},GB,smb,2026-01-0{i % 9 + 1}"
        )
    return "\n".join(lines) + "\n"


def materialize_raw(settings: Settings, key, files=None):  # noqa: ANN001, ANN201 - Dagster's types
    """Materialize one raw asset in process (given landed files only, or every due one)."""
    import dagster as dg

    from dagster_project.defs.raw.assets import build_raw_assets
    from dagster_project.defs.resources import Foundation
    from dagster_project.registry import load_registry

    assets = build_raw_assets(load_registry(settings.sources_file), settings.expectations_dir)
    config = {"ops": {f"raw__{key.path[1]}": {"config": {"files": files}}}} if files else {}
    return dg.materialize(
        assets,
        resources={"foundation": Foundation.from_settings(settings)},
        run_config=config,
        raise_on_error=False,
        selection=[key],
    )


def land(settings: Settings, key: str, content: str | bytes) -> Path:
    """Write a file into the landing zone and return its path."""
    path = Path(settings.landing_uri.removeprefix("file://")) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def products_parquet(first_id: int, count: int) -> bytes:
    """A small valid products Parquet file (ids match the product ids `orders_csv` uses: 1..5)."""
    import io
    from datetime import datetime
    from decimal import Decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = list(range(first_id, first_id + count))
    table = pa.table(
        {
            "product_id": pa.array(ids, pa.int64()),
            "sku": [f"HOM-{i:05d}" for i in ids],
            "name": [f"Product {i}" for i in ids],
            "category": ["home"] * count,
            "unit_price": pa.array([Decimal(f"{i}.50") for i in ids], pa.decimal128(10, 2)),
            "active": [True] * count,
            "updated_at": [datetime(2026, 10, 1, 12, 0, 0)] * count,
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def small_platform(tmp_path: Path, own_expectations: bool = False) -> tuple[Settings, dg.DagsterInstance]:
    """Customers 1..7, products 1..5 and orders 1..20 ingested and built through curated.

    With `own_expectations`, the suites are a copy under tmp_path that a test may edit.
    """
    import shutil

    import dagster as dg

    from dagster_project.catch_up import build_models, catch_up
    from dagster_project.settings import PROJECT_DIR

    overrides = {}
    if own_expectations:
        overrides["expectations_dir"] = tmp_path / "expectations"
        shutil.copytree(PROJECT_DIR / "expectations", overrides["expectations_dir"])
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0, **overrides)
    instance = dg.DagsterInstance.ephemeral()
    land(settings, "customers/c1.csv", customers_csv(1, 7))
    land(settings, "products/p1.parquet", products_parquet(1, 5))
    land(settings, "orders/o1.csv", orders_csv(1, 20))
    catch_up(settings, instance)
    success, models = build_models(settings, instance)
    assert success, models
    return settings, instance
