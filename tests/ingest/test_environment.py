"""Transient is not bad: a full disk, a memory limit or a permission fails the run; nothing is quarantined,
and once the cause is gone the next run ingests the file."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from dagster_project.errors import EnvironmentFailure
from dagster_project.ingest.run import ingest_dataset
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from tests.conftest import land, orders_csv


def _nothing_quarantined(settings) -> None:
    catalog = open_catalog(settings)
    assert not catalog.table_exists("ops.quarantine") or read_quarantine(catalog).num_rows == 0
    assert not list(Path(settings.quarantine_uri.removeprefix("file://")).rglob("*"))


def test_duckdb_memory_limit_fails_the_run_and_the_file_lands_later(settings, registry):
    land(settings, "orders/big.csv", orders_csv(1, 20_000))
    starved = dataclasses.replace(settings, duckdb_memory_limit="1MB", duckdb_threads=1)
    with pytest.raises(EnvironmentFailure, match="memory") as failure:
        ingest_dataset(starved, registry["orders"], run_id="starved")
    assert "orders/big.csv" in str(failure.value) and "stays due" in str(failure.value)
    _nothing_quarantined(settings)
    report = ingest_dataset(settings, registry["orders"], run_id="after")
    assert report.rows == 20_000 and not report.quarantined


@pytest.fixture
def full_disk(tmp_path: Path):
    """A 64 KiB tmpfs as scratch space (root only: mounting needs CAP_SYS_ADMIN)."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_scratch_disk_fails_the_run_instead_of_quarantining(settings, registry, full_disk):
    land(settings, "orders/a.csv", orders_csv(1, 20_000))
    small = dataclasses.replace(settings, data_dir=full_disk, duckdb_threads=1)
    # Only the scratch space is on the small disk: landing, warehouse and catalog stay where they are.
    assert small.work_dir.parent == full_disk
    with pytest.raises(EnvironmentFailure) as failure:
        ingest_dataset(small, registry["orders"], run_id="full")
    assert "orders/a.csv" in str(failure.value)
    assert "quoting" not in str(failure.value) and "unreadable" not in str(failure.value)
    _nothing_quarantined(settings)
    assert ingest_dataset(settings, registry["orders"], run_id="after").rows == 20_000


def test_permission_denied_while_reading_is_not_a_bad_file(settings, registry, monkeypatch):
    land(settings, "orders/a.csv", orders_csv(1, 3))
    import dagster_project.landing.local as local

    def denied(fd):
        raise PermissionError(13, "Permission denied")

    # As root the permission bits cannot deny a read, so the read itself is made to fail.
    monkeypatch.setattr(local, "checksum_fd", denied)
    with pytest.raises(EnvironmentFailure, match="EACCES"):
        ingest_dataset(settings, registry["orders"], run_id="denied")
    monkeypatch.undo()
    _nothing_quarantined(settings)
    assert ingest_dataset(settings, registry["orders"], run_id="after").rows == 3


class _Interrupted:
    """A DuckDB connection whose queries reading a CSV file (a group's or a file's) are stopped by a signal.

    DuckDB runs Python's signal handlers while a query runs; one that raises ends the query with
    `RuntimeError("Query interrupted")` caused by what the handler raised (measured with duckdb 1.5).
    A signal cannot be made to land inside a query deterministically, so the error is raised where
    DuckDB raises it: `execute`.
    """

    def __init__(self, con, cause: BaseException | None) -> None:
        self._con, self._cause = con, cause

    def execute(self, sql: str, *args, **kwargs):
        if "read_csv(" in sql:
            raise RuntimeError("Query interrupted") from self._cause
        return self._con.execute(sql, *args, **kwargs)

    def cursor(self):
        return _Interrupted(self._con.cursor(), self._cause)

    def __getattr__(self, name: str):
        return getattr(self._con, name)


def _interrupt_reads(monkeypatch, cause: BaseException | None) -> None:
    import dagster_project.ingest.run as run

    connect = run.connect
    monkeypatch.setattr(run, "connect", lambda *a, **k: _Interrupted(connect(*a, **k), cause))


def test_an_interrupted_duckdb_query_is_retried_not_quarantined(settings, registry, monkeypatch):
    land(settings, "orders/a.csv", orders_csv(1, 3))
    land(settings, "orders/b.csv", orders_csv(4, 3))  # two files: the fast lane's group query too
    _interrupt_reads(monkeypatch, cause=None)  # con.interrupt(), or a handler raising an Exception
    with pytest.raises(EnvironmentFailure, match="interrupted") as failure:  # the raw asset retries these
        ingest_dataset(settings, registry["orders"], run_id="interrupted")
    assert "orders/a.csv" in str(failure.value) and "stays due" in str(failure.value)
    monkeypatch.undo()
    _nothing_quarantined(settings)
    assert ingest_dataset(settings, registry["orders"], run_id="after").rows == 6


def test_a_query_interrupted_to_stop_the_run_stops_it(settings, registry, monkeypatch):
    """Ctrl-C, or Dagster terminating a run (its handler raises DagsterExecutionInterruptedError, a
    BaseException like KeyboardInterrupt): the stop goes on as a stop, not as a retry or a bad file."""
    land(settings, "orders/a.csv", orders_csv(1, 3))
    _interrupt_reads(monkeypatch, cause=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        ingest_dataset(settings, registry["orders"], run_id="stopped")
    monkeypatch.undo()
    _nothing_quarantined(settings)
    assert ingest_dataset(settings, registry["orders"], run_id="after").rows == 3


def test_only_duckdb_interrupts_count_as_the_environment():
    import duckdb

    from dagster_project.ingest.read_errors import environment_failure

    for exc in (RuntimeError("Query interrupted"), OSError("INTERRUPT Error: Interrupted!")):
        assert isinstance(environment_failure(exc, "orders/a.csv"), EnvironmentFailure)
    con = duckdb.connect()
    # A value that does not fit, or another error that mentions an interrupt, is the file's or a bug.
    with pytest.raises(duckdb.Error) as data_error:
        con.execute("SELECT CAST('x' AS INTEGER)").fetchall()
    others = (RuntimeError("the export was interrupted"), EnvironmentFailure("Query interrupted"))
    for exc in (data_error.value, *others):
        assert environment_failure(exc, "orders/a.csv") is None
