"""The dbt project is a valid dbt-duckdb project whose sources are the raw Iceberg tables."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dagster_project.registry import Registry, load_registry
from dagster_project.settings import PACKAGE_DIR

ROOT = Path(__file__).resolve().parents[1]


def dbt_parse(project_dir: Path, target: Path) -> dict:
    """`dbt parse` of a dbt project into `target`; the manifest."""
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "FOUNDATION_DATA_DIR": str(target), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = subprocess.run(
        [
            str(dbt),
            "parse",
            "--project-dir",
            str(project_dir),
            "--profiles-dir",
            str(project_dir),
            "--target-path",
            str(target / "target"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads((target / "target" / "manifest.json").read_text())


@pytest.mark.slow  # dbt parse in a child process
def test_dbt_parse_succeeds_and_sources_match_the_registry(tmp_path):
    manifest = dbt_parse(ROOT / "dbt_project", tmp_path)
    assert_follows_the_registry(manifest, load_registry(PACKAGE_DIR / "sources.yml"), ROOT / "dbt_project")


def assert_follows_the_registry(manifest: dict, registry: Registry, project_dir: Path) -> None:
    """dbt's raw sources are the registry's datasets; every model follows the house rules."""
    sources = {s["name"] for s in manifest["sources"].values() if s["source_name"] == "raw"}
    assert sources == set(registry.names())
    # Source columns and types are the registry's, plus lineage and the plugin's sequence number.
    from dagster_project.lakehouse.tables import LINEAGE_FIELDS, duckdb_type

    for dataset in registry:
        source = manifest["sources"][f"source.foundation.raw.{dataset.name}"]
        declared = {name: col["data_type"] for name, col in source["columns"].items()}
        expected = {c.name: duckdb_type(c.type).lower() for c in dataset.columns}
        expected |= {name: duckdb_type(t).lower() for name, t, _ in LINEAGE_FIELDS}
        expected["_raw_sequence_number"] = "bigint"
        assert declared == expected, dataset.name
        assert source["meta"]["consumer"] == f"staging.stg_{dataset.name}"
    # Every dataset has its staging model, and every model file is in the manifest (no count by hand).
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    names = {m["name"] for m in models}
    assert {f"stg_{d.name}" for d in registry} <= names
    assert names == {p.stem for p in (project_dir / "models").rglob("*.sql")}
    # One YAML per model whose first sentence states the grain; keys tested not_null + unique (a
    # composite key: not_null on each column and unique_combination_of_columns over them).
    for model in models:
        assert model["description"].startswith("One row per "), model["name"]
        assert all(c.get("description") for c in model["columns"].values()), model["name"]
        key = model["config"]["unique_key"]
        tests = [
            n
            for n in manifest["nodes"].values()
            if n["resource_type"] == "test" and n.get("attached_node") == model["unique_id"]
        ]
        columns = [key] if isinstance(key, str) else key
        for column in columns:
            named = {t["test_metadata"]["name"] for t in tests if t.get("column_name") == column}
            assert "not_null" in named, (model["name"], column)
        if len(columns) == 1:
            assert "unique" in {t["test_metadata"]["name"] for t in tests if t.get("column_name") == key}
        else:
            assert any(
                t["test_metadata"]["name"] == "unique_combination_of_columns"
                and t["test_metadata"]["kwargs"]["combination_of_columns"] == columns
                for t in tests
            ), model["name"]
