"""A composite key through dbt: `latest_version([...])`, a list `unique_key`, `unique_combination_of_columns`.

The raw table is ingested from landed files (duplicate pairs, and an order id repeated with unique
pairs); a small dbt project, using this project's macros and the foundation plugin, builds staging
over it. Two builds: the first, then an incremental one after a newer version of a pair landed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from dagster_project.cards.models import model_card
from dagster_project.cards.profile import TableProfile
from dagster_project.catch_up import catch_up
from dagster_project.registry import load_registry
from dagster_project.settings import DBT_PROJECT_DIR
from tests.conftest import land
from tests.quality.test_composite_keys import LINES, _suite, composite_platform

pytestmark = pytest.mark.slow  # ingests and runs a dbt build end to end

PROFILE = """\
foundation:
  target: local
  outputs:
    local:
      type: duckdb
      path: "{{ env_var('FOUNDATION_DATA_DIR') }}/composite.duckdb"
      threads: 1
      plugins:
        - module: dagster_project.transform.plugin
          alias: foundation
"""
SOURCES = """\
version: 2
sources:
  - name: raw
    config: {meta: {plugin: foundation}}
    tables:
      - name: order_lines
        meta: {iceberg_table: raw.order_lines, consumer: staging.stg_order_lines}
models:
  - name: stg_order_lines
    description: One row per order line (order_id, line_no), the most recently landed version.
    data_tests:
      - unique_combination_of_columns:
          arguments:
            combination_of_columns: [order_id, line_no]
  - name: order_lines_as_landed
    description: One row per landed line, duplicates included (the test below must fail).
    data_tests:
      - unique_combination_of_columns:
          arguments:
            combination_of_columns: [order_id, line_no]
  - name: stg_orders_heads
    description: One row per order, its latest line (a one-column key given as a string).
    columns:
      - name: order_id
        data_tests: [unique]
"""
MODELS = {
    "stg_order_lines": "{{ config(unique_key=['order_id', 'line_no']) }}\n"
    "select * from {{ source('raw', 'order_lines') }}\n{{ latest_version(['order_id', 'line_no']) }}\n",
    "order_lines_as_landed": "{{ config(materialized='table') }}\n"
    "select * from {{ source('raw', 'order_lines') }}\n",
    "stg_orders_heads": "{{ config(materialized='table') }}\n"
    "select * from {{ source('raw', 'order_lines') }}\n{{ latest_version('order_id') }}\n",
}


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "dbt"
    shutil.copytree(DBT_PROJECT_DIR / "macros", project / "macros")
    (project / "models").mkdir()
    (project / "dbt_project.yml").write_text(
        "name: foundation\nversion: '0.1.0'\nconfig-version: 2\nprofile: foundation\n"
        "models:\n  foundation:\n    +materialized: incremental\n    +incremental_strategy: delete+insert\n"
    )
    (project / "profiles.yml").write_text(PROFILE)
    (project / "models" / "schema.yml").write_text(SOURCES)
    for name, sql in MODELS.items():
        (project / "models" / f"{name}.sql").write_text(sql)
    return project


def _build(project: Path, settings) -> dict[str, str]:
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, **settings.to_env(), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    args = [str(dbt), "build", "--project-dir", str(project), "--profiles-dir", str(project)]
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert "Compilation Error" not in result.stdout, result.stdout[-3000:]
    run = json.loads((project / "target" / "run_results.json").read_text())
    # unique ids: model.foundation.NAME, test.foundation.NAME.HASH -> "model:NAME", "test:NAME"
    return {":".join(r["unique_id"].split(".")[0:3:2]): r["status"] for r in run["results"]}


def _lines(settings) -> list[tuple]:
    with duckdb.connect(str(settings.data_dir / "composite.duckdb"), read_only=True) as con:
        return con.execute("select order_id, line_no, qty from main.stg_order_lines order by all").fetchall()


def test_staging_keeps_one_row_per_pair_and_the_key_tests_judge_pairs(tmp_path):
    settings, instance = composite_platform(tmp_path, _suite("warn"))  # duplicates publish to raw
    land(settings, "order_lines/l1.csv", LINES)  # (2, 1) twice in one file; order 1 has lines 1 and 2
    catch_up(settings, instance)
    project = _project(tmp_path)
    statuses = _build(project, settings)
    tests = {name: status for name, status in statuses.items() if name.startswith("test:")}
    assert tests == {
        "test:unique_combination_of_columns_order_lines_as_landed_order_id__line_no": "fail",  # (2, 1) twice
        "test:unique_combination_of_columns_stg_order_lines_order_id__line_no": "pass",  # order 1: 2 lines
        "test:unique_stg_orders_heads_order_id": "pass",  # latest_version('order_id') still works
    }
    assert [(o, n) for o, n, _ in _lines(settings)] == [(1, 1), (1, 2), (2, 1), (3, 1)]

    # A newer version of (1, 2) lands: the incremental build replaces that pair only.
    land(settings, "order_lines/l2.csv", "order_id,line_no,sku,qty\n1,2,B,20\n")
    catch_up(settings, instance)
    _build(project, settings)
    rows = _lines(settings)
    assert [(o, n) for o, n, _ in rows] == [(1, 1), (1, 2), (2, 1), (3, 1)]
    assert dict(((o, n), q) for o, n, q in rows)[(1, 2)] == 20

    # The card of the staging model shows the key as a composite.
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    profile = TableProfile("staging.stg_order_lines", None, 0, 0)
    card = model_card(
        manifest,
        "model.foundation.stg_order_lines",
        load_registry(settings.sources_file),
        profile,
        None,
        expectations_dir=settings.expectations_dir,
        generated_at=datetime.now(UTC),
    )
    facts = dict(card.facts)
    assert facts["Primary key"].startswith("(order_id, line_no), composite")
