"""Kill a dbt build while it publishes, rerun once: every model's rows once, nothing stranded or held.

The platform (raw → staging → curated) is built once per module and restored before each test
at the same path (Iceberg metadata holds absolute paths). New orders land, then a build runs in a
child process killed for real (SIGKILL) at one named crash point during the publish of the first
model; the next build runs in this process.
"""

from __future__ import annotations

import shutil
import signal
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.catch_up import build_models, catch_up
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.lakehouse.wap import held_batches
from dagster_project.settings import Settings
from tests.conftest import land, orders_csv, small_platform
from tests.crash_child import run_child
from tests.ingest.test_crash_points import assert_publish_events_once, audit_branches
from tests.transform.conftest import model_table_names

pytestmark = pytest.mark.slow

# The states a build can stop in (every WAP boundary is also covered by the raw and documents
# tests, which share the code): dbt wrote rows but nothing is published; a model's batch is on
# its audit branch with no verdict; a model is on main with its branch left and no audit event.
POINTS = ["dbt.built", "wap.auditing", "wap.published"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory) -> tuple[Path, Path]:
    """The built small platform, and a copy of it to restore from."""
    root = tmp_path_factory.mktemp("dbt-crash")
    live = root / "platform"
    live.mkdir()
    small_platform(live)
    shutil.copytree(live, root / "template")
    return live, root / "template"


def _restore(platform: tuple[Path, Path]) -> Settings:
    live, template = platform
    shutil.rmtree(live)
    shutil.copytree(template, live)
    return Settings.for_data_dir(live / "data", sensor_min_file_age_seconds=0)


def _ids(settings: Settings, table: str) -> list[int]:
    rows = open_catalog(settings).load_table(table).scan(selected_fields=("order_id",)).to_arrow()
    return sorted(rows["order_id"].to_pylist())


@pytest.mark.parametrize("point", POINTS)
def test_a_build_killed_while_publishing_is_made_good_by_the_next_one(platform, point):
    settings = _restore(platform)
    instance = dg.DagsterInstance.ephemeral()
    land(settings, "orders/o2.csv", orders_csv(21, 10))
    catch_up(settings, instance)
    child = run_child({"job": "build", "data_dir": settings.data_dir, "run_id": "crashed", "point": point})
    assert child.returncode == -signal.SIGKILL, f"never reached {point}: {child.stdout}{child.stderr}"

    success, models = build_models(settings, instance)
    assert success, models
    assert all(m.gate.startswith("passed") for m in models), [(m.table, m.gate) for m in models]
    assert _ids(settings, "staging.stg_orders") == list(range(1, 31))  # every order once
    assert _ids(settings, "curated.orders") == list(range(1, 31))
    catalog = open_catalog(settings)
    for name in model_table_names():
        if not catalog.table_exists(name):  # a model of a source this platform has no files for
            continue
        assert audit_branches(settings, name) == [], name
        assert held_batches(catalog.load_table(name)) == [], name
        assert_publish_events_once(settings, name)
