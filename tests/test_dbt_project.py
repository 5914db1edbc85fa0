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
