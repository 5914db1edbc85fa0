"""Maintenance assets on a built platform: rows unchanged, reports before/after, dbt reads on exactly."""

from __future__ import annotations

import json
import shutil

import dagster as dg
import pytest

from dagster_project.catch_up import build_models, catch_up
from dagster_project.defs.dbt.assets import dbt_project, load_manifest
from dagster_project.defs.maintenance.assets import build_maintenance_assets
from dagster_project.defs.resources import Foundation
from dagster_project.lakehouse.catalog_maintenance import catalog_tables
from dagster_project.lakehouse.ops_tables.audit import AUDIT_TABLE, read_audit_log
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import PROJECT_DIR, Settings
from dagster_project.transform import working_db
from dagster_project.transform.build import manifest_models
from tests.conftest import customers_csv, land, orders_csv, products_parquet

pytestmark = pytest.mark.slow  # builds the models, maintains every table, builds again


def _everything(settings: Settings) -> dict[str, list[str]]:
    """Every row of every table but the audit log (which records the maintenance itself)."""
    catalog = open_catalog(settings)
    rows = {}
    for name in catalog_tables(catalog):
        if name == AUDIT_TABLE:
            continue
        table = catalog.load_table(name)
        data = table.scan().to_arrow().to_pylist() if table.current_snapshot() else []
        rows[name] = sorted(map(str, data))
    return rows


def test_maintenance_keeps_every_row_and_the_next_build_reads_only_new_rows(tmp_path):
    expectations = tmp_path / "expectations"
    shutil.copytree(PROJECT_DIR / "expectations", expectations)
    settings = Settings.for_data_dir(
        tmp_path / "data",
        sensor_min_file_age_seconds=0,
        expectations_dir=expectations,
        maintenance_retention_days=0,
        maintenance_keep_last=1,
        maintenance_orphan_grace_hours=0,
        compaction_min_files=2,
    )
    instance = dg.DagsterInstance.ephemeral()
    land(settings, "customers/c1.csv", customers_csv(1, 7))
    land(settings, "products/p1.parquet", products_parquet(1, 5))
    for i in range(4):
        land(settings, f"orders/o{i}.csv", orders_csv(1 + 5 * i, 5))
    catch_up(settings, instance)
    success, _ = build_models(settings, instance)
    assert success
    before = _everything(settings)

    result = dg.materialize(
        build_maintenance_assets(),
        resources={"foundation": Foundation.from_settings(settings)},
        instance=instance,
    )
    assert result.success
    assert _everything(settings) == before
    compacted = result.asset_materializations_for_node("maintenance__compact_files")[0].metadata
    assert compacted["data_files_after"].value < compacted["data_files_before"].value
    assert "| raw.orders |" in compacted["tables"].value
    expired = result.asset_materializations_for_node("maintenance__expire_snapshots")[0].metadata
    assert expired["snapshots_expired"].value > 0
    assert expired["snapshots_after"].value < expired["snapshots_before"].value
    orphans = result.asset_materializations_for_node("maintenance__remove_orphan_files")[0].metadata
    assert orphans["files_removed"].value > 0  # the compacted-away files and expired manifests
    # The audit log names every table each operation changed, with the run and the new snapshot.
    audit = [e for e in read_audit_log(open_catalog(settings)).to_pylist() if e["action"] == "maintenance"]
    assert {e["run_id"] for e in audit} == {result.run_id}
    compacted_tables = {json.loads(e["tables"])[0] for e in audit if e["statement"].startswith("compact:")}
    assert "raw.orders" in compacted_tables
    assert all(e["outcome"] == "ok" for e in audit)
    assert any(e["statement"].startswith("expire_snapshots:") for e in audit)

    # The working database still equals Iceberg: maintenance commits force no rebuild.
    con = working_db.connect(settings)
    try:
        actions = working_db.sync(
            con, open_catalog(settings), manifest_models(load_manifest(dbt_project())).values()
        )
    finally:
        con.close()
    built = set(catalog_tables(open_catalog(settings)))
    assert all(a.startswith("in step") for t, a in actions.items() if t in built), actions

    land(settings, "orders/o9.csv", orders_csv(100, 5))
    catch_up(settings, instance)
    success, models = build_models(settings, instance)
    assert success
    written = {m.table: m.rows_written for m in models}
    assert written["staging.stg_orders"] == 5
    assert open_catalog(settings).load_table("curated.orders").scan().to_arrow().num_rows == 25
