"""`foundation maintain` and `foundation history` after maintenance: what an operator runs by hand."""

import dagster as dg
import pytest

from dagster_project.catch_up import build_models, catch_up
from dagster_project.cli import main
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import load_settings
from tests.conftest import customers_csv, land, orders_csv, products_parquet

pytestmark = pytest.mark.slow  # ingests, builds the models, then maintains through the CLI


def test_maintain_dry_run_changes_nothing_then_compacts_and_history_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FOUNDATION_SENSOR_MIN_FILE_AGE_SECONDS", "0")
    monkeypatch.setenv("FOUNDATION_COMPACTION_MIN_FILES", "2")
    settings = load_settings()
    instance = dg.DagsterInstance.ephemeral()
    land(settings, "customers/c1.csv", customers_csv(1, 7))
    land(settings, "products/p1.parquet", products_parquet(1, 5))
    for i in range(3):
        land(settings, f"orders/o{i}.csv", orders_csv(1 + 5 * i, 5))
    catch_up(settings, instance)
    assert build_models(settings, instance)[0]
    head = open_catalog(settings).load_table("raw.orders").current_snapshot().snapshot_id

    assert main(["maintain", "--dry-run", "--table", "raw.orders"]) == 0
    out = capsys.readouterr().out
    assert "compact: 1 table(s), 1 would change" in out and "raw.orders: data files 3 → 1" in out
    assert open_catalog(settings).load_table("raw.orders").current_snapshot().snapshot_id == head

    assert main(["maintain", "compact", "--table", "raw.orders"]) == 0
    assert "raw.orders: data files 3 → 1" in capsys.readouterr().out
    table = open_catalog(settings).load_table("raw.orders")
    assert sorted(table.scan().to_arrow()["order_id"].to_pylist()) == list(range(1, 16))

    assert main(["history", "raw.orders", "--limit", "1"]) == 0
    assert "maintenance compaction: same rows, fewer files" in capsys.readouterr().out
    assert main(["history", "orders"]) == 2
    assert "name the table as namespace.table, e.g. raw.orders" in capsys.readouterr().err
    assert main(["maintain", "--table", "raw.nope"]) == 2
