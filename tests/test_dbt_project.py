"""The dbt project is a valid dbt-duckdb project whose sources are the raw Iceberg tables."""

import json
import os
import subprocess
import sys
from pathlib import Path

from dagster_project.registry import load_registry
from dagster_project.settings import PACKAGE_DIR

ROOT = Path(__file__).resolve().parents[1]


def test_dbt_parse_succeeds_and_sources_match_the_registry(tmp_path):
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "FOUNDATION_DATA_DIR": str(tmp_path), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = subprocess.run(
        [
            str(dbt),
            "parse",
            "--project-dir",
            "dbt_project",
            "--profiles-dir",
            "dbt_project",
            "--target-path",
            str(tmp_path / "target"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    sources = {s["name"] for s in manifest["sources"].values() if s["source_name"] == "raw"}
    assert sources == set(load_registry(PACKAGE_DIR / "sources.yml").names())
    # Source columns and types are the registry's, plus lineage and the plugin's sequence number.
    from dagster_project.lakehouse.tables import LINEAGE_FIELDS, duckdb_type

    for dataset in load_registry(PACKAGE_DIR / "sources.yml"):
        source = manifest["sources"][f"source.foundation.raw.{dataset.name}"]
        declared = {name: col["data_type"] for name, col in source["columns"].items()}
        expected = {c.name: duckdb_type(c.type).lower() for c in dataset.columns}
        expected |= {name: duckdb_type(t).lower() for name, t, _ in LINEAGE_FIELDS}
        expected["_raw_sequence_number"] = "bigint"
        assert declared == expected, dataset.name
        assert source["meta"]["consumer"] == f"staging.stg_{dataset.name}"
    # One YAML per model whose first sentence states the grain; keys tested not_null + unique.
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(models) == 7
    for model in models:
        assert model["description"].startswith("One row per "), model["name"]
        assert all(c.get("description") for c in model["columns"].values()), model["name"]
        key = model["config"]["unique_key"]
        tests = {
            n["test_metadata"]["name"]
            for n in manifest["nodes"].values()
            if n["resource_type"] == "test"
            and n.get("attached_node") == model["unique_id"]
            and n.get("column_name") == key
        }
        assert {"not_null", "unique"} <= tests, model["name"]
