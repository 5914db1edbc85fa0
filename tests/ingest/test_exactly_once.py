"""A landed file version is committed exactly once, whatever is retried, rerun or killed."""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from dagster_project.catch_up import pending_work
from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.publish import FILES_PROPERTY, ingested_versions
from dagster_project.lakehouse.tables import open_catalog
from tests.conftest import land, orders_csv


def _table(settings):
    return open_catalog(settings).load_table("raw.orders")


def _count(settings) -> int:
    table = _table(settings)
    return 0 if table.current_snapshot() is None else table.scan().to_arrow().num_rows


def test_identity_is_committed_with_the_rows(settings, registry):
    path = land(settings, "orders/a.csv", orders_csv(1, 5))
    ingest_dataset(settings, registry["orders"], run_id="run-1")
    snapshot = _table(settings).current_snapshot()
    files = snapshot.summary.additional_properties[FILES_PROPERTY]
    assert path.as_uri() in files
    assert snapshot.summary["added-records"] == "5"


def test_rerun_and_retry_skip_what_is_committed(settings, registry):
    land(settings, "orders/a.csv", orders_csv(1, 5))
    ingest_dataset(settings, registry["orders"], run_id="run-1")
    again = ingest_dataset(settings, registry["orders"], run_id="run-1")  # a retry of the same run
    other = ingest_dataset(settings, registry["orders"], run_id="run-2", keys=["orders/a.csv"])
    assert again.rows == 0 and other.rows == 0
    assert "already ingested" in other.skipped[0]["why"]
    assert _count(settings) == 5
    assert len(_table(settings).metadata.snapshots) == 1


def test_touched_file_is_skipped_but_modified_file_is_a_new_version(settings, registry):
    path = land(settings, "orders/a.csv", orders_csv(1, 5))
    ingest_dataset(settings, registry["orders"], run_id="run-1")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert ingest_dataset(settings, registry["orders"], run_id="run-2").rows == 0
    path.write_text(orders_csv(1, 5) + "6,1,1,1,1.00,EUR,placed,2026-11-02 10:00:00\n")
    assert ingest_dataset(settings, registry["orders"], run_id="run-3").rows == 6
    assert len(ingested_versions(_table(settings))) == 2


def test_crash_after_commit_before_bookkeeping_reruns_cleanly(settings, registry, monkeypatch):
    land(settings, "orders/a.csv", orders_csv(1, 5))
    import dagster_project.ingest.engine as engine_module

    def crash(*args, **kwargs):
        raise RuntimeError("process died after the commit")

    monkeypatch.setattr(engine_module, "record_audit", crash)
    with pytest.raises(RuntimeError):
        ingest_dataset(settings, registry["orders"], run_id="run-1")
    monkeypatch.undo()
    assert _count(settings) == 5
    assert ingest_dataset(settings, registry["orders"], run_id="run-2").rows == 0
    assert _count(settings) == 5


KILLED_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from dagster_project.ingest.run import ingest_dataset
    from dagster_project.registry import load_registry
    from dagster_project.settings import Settings

    settings = Settings.for_data_dir(Path(sys.argv[1]), sensor_min_file_age_seconds=0)
    dataset = load_registry(settings.sources_file)["orders"]

    def die():
        # Data files are written and placed in the table location; the commit has not happened.
        os.kill(os.getpid(), signal.SIGKILL)

    ingest_dataset(settings, dataset, run_id="killed-run", before_commit=die)
    """
)


def test_run_killed_mid_write_leaves_nothing_visible_and_rerun_ingests_once(settings, registry, tmp_path):
    land(settings, "orders/a.csv", orders_csv(1, 50))
    land(settings, "orders/b.csv", orders_csv(51, 50))
    script = tmp_path / "killed.py"
    script.write_text(KILLED_RUN)
    child = subprocess.run([sys.executable, str(script), str(settings.data_dir)], capture_output=True)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    data_files = list((settings.data_dir / "warehouse").rglob("*.parquet"))
    assert data_files, "the killed run should have got as far as writing data files"
    assert _count(settings) == 0
    report = ingest_dataset(settings, registry["orders"], run_id="rerun")
    assert report.rows == 100
    assert _count(settings) == 100
    ids = _table(settings).scan(selected_fields=("order_id",)).to_arrow()["order_id"].to_pylist()
    assert sorted(ids) == list(range(1, 101))


def test_concurrent_run_that_committed_first_wins_without_duplicates(settings, registry):
    land(settings, "orders/a.csv", orders_csv(1, 5))
    land(settings, "orders/b.csv", orders_csv(6, 5))
    rival_done = []

    def rival_commits_first():
        # Another run commits a.csv between our staging and our commit.
        if not rival_done:
            rival_done.append(
                ingest_dataset(settings, registry["orders"], run_id="rival", keys=["orders/a.csv"])
            )

    report = ingest_dataset(settings, registry["orders"], run_id="ours", before_commit=rival_commits_first)
    assert rival_done[0].rows == 5
    assert [f["file"] for f in report.ingested] == ["orders/b.csv"]
    assert report.skipped == [{"file": "orders/a.csv", "why": "committed by a concurrent run"}]
    ids = _table(settings).scan(selected_fields=("order_id",)).to_arrow()["order_id"].to_pylist()
    assert sorted(ids) == list(range(1, 11))


KILLED_AFTER_COMMIT = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from dagster_project import faults
    from dagster_project.ingest.run import ingest_dataset
    from dagster_project.registry import load_registry
    from dagster_project.settings import Settings

    settings = Settings.for_data_dir(Path(sys.argv[1]), sensor_min_file_age_seconds=0)
    dataset = load_registry(settings.sources_file)["orders"]
    # The commit has happened (rows and file identities on main); the bookkeeping after it has not.
    faults.install(lambda point: point == "publish.committed" and os.kill(os.getpid(), signal.SIGKILL))
    ingest_dataset(settings, dataset, run_id="killed-after-commit")
    """
)


def test_run_killed_after_its_commit_is_not_ingested_again_by_the_rerun(settings, registry, tmp_path):
    land(settings, "orders/a.csv", orders_csv(1, 50))
    land(settings, "orders/b.csv", orders_csv(51, 50))
    script = tmp_path / "killed_after.py"
    script.write_text(KILLED_AFTER_COMMIT)
    child = subprocess.run([sys.executable, str(script), str(settings.data_dir)], capture_output=True)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert _count(settings) == 100
    report = ingest_dataset(settings, registry["orders"], run_id="rerun")
    assert report.rows == 0
    ids = _table(settings).scan(selected_fields=("order_id",)).to_arrow()["order_id"].to_pylist()
    assert sorted(ids) == list(range(1, 101))


def test_a_copied_data_folder_does_not_ingest_everything_again(settings, registry, tmp_path):
    """Moving or copying the installation changes every file's URI, not its identity: same key, same bytes."""
    import shutil

    from dagster_project.settings import Settings

    land(settings, "orders/a.csv", orders_csv(1, 5))
    land(settings, "orders/bad.csv", "")
    land(settings, "orders/copy.csv", orders_csv(1, 5))  # a duplicate of a.csv
    assert len(ingest_dataset(settings, registry["orders"], run_id="first").duplicates) == 1
    copy = tmp_path / "moved"
    shutil.copytree(settings.data_dir, copy, symlinks=True)
    moved = Settings.for_data_dir(copy, sensor_min_file_age_seconds=0)
    land(moved, "orders/b.csv", orders_csv(6, 2))

    report = ingest_dataset(moved, registry["orders"], run_id="after-the-move")

    assert [f["file"] for f in report.ingested] == ["orders/b.csv"]
    whys = {s["file"]: s["why"] for s in report.skipped}
    assert (
        whys["orders/a.csv"].startswith("already ingested")
        and "landing zone has moved" in whys["orders/a.csv"]
    )
    assert whys["orders/bad.csv"].startswith("already quarantined")
    # Not a new duplicate (a second record, of a file at the old root): the one recorded before.
    assert report.duplicates == []
    assert whys["orders/copy.csv"].startswith("already recorded as a duplicate of ")
    assert "landing zone has moved" in whys["orders/copy.csv"]
    assert _count(moved) == 7
    # Recorded at their new URIs: catch-up in the moved folder finds nothing due again.
    assert pending_work(moved).files == []
