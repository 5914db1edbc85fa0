"""A backlog converted on a real local Ray cluster (ingest/on_ray.py): the same answer as in process.

The driver (the run) decides and commits; Ray tasks only fetch and convert. So the raw rows, the
quarantine records and the one snapshot per batch are those of the in-process path, a worker killed
mid-batch is retried by Ray without landing anything twice, and an unreachable cluster fails the run
(retried) without quarantining a file.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from pathlib import Path

import dagster as dg
import pytest

from dagster_project.errors import EnvironmentFailure
from dagster_project.ingest.convert import Converted
from dagster_project.ingest.run import TableConverter, ingest_dataset
from dagster_project.ingest.units import Unit
from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.registry import load_registry
from dagster_project.settings import Settings
from tests.conftest import ORDERS_HEADER, customers_csv, land, materialize_raw, orders_csv

pytestmark = pytest.mark.slow
ORDERS = dg.AssetKey(["raw", "orders"])


def _backlog(settings: Settings) -> list[str]:
    """20 orders files, landed one second apart (the landing order is theirs in both data dirs): valid
    ones, one that adds a column mid-batch, one malformed (quarantined whole), one with a bad row, and
    one with another file's bytes."""
    contents = {f"orders/o{n:02d}.csv": orders_csv(n * 10, 5) for n in range(20)}
    contents["orders/o07.csv"] = orders_csv(70, 5, extra_header="coupon", extra_value="X1")
    contents["orders/o11.csv"] = orders_csv(110, 5) + "999,1,1,1,1.50,EUR,placed\n"  # 7 values: unreadable
    bad_row = orders_csv(130, 5).splitlines()
    bad_row[3] = bad_row[3].replace(".50,", ".5x,")  # the amount is not a decimal: the row is set apart
    contents["orders/o13.csv"] = "\n".join(bad_row) + "\n"
    contents["orders/o17.csv"] = contents["orders/o04.csv"]  # a duplicate, skipped and recorded
    assert contents["orders/o00.csv"].startswith(ORDERS_HEADER)
    base = time.time() - 3600
    for n, (key, text) in enumerate(sorted(contents.items())):
        path = land(settings, key, text)
        os.utime(path, (base + n, base + n))
    return sorted(contents)


def _raw(settings: Settings) -> list[dict]:
    """raw.orders, lineage made comparable: the file's name, and `_ingested_at` as an offset from the
    batch's start (the runs started at different times; the order of the files must be the same)."""
    rows = open_catalog(settings).load_table("raw.orders").scan().to_arrow().to_pylist()
    start = min(r["_ingested_at"] for r in rows)
    for r in rows:
        r["_source_file"] = r["_source_file"].rsplit("/", 1)[-1]
        r["_ingested_at"] = r["_ingested_at"] - start
        del r["_run_id"]
    return sorted(rows, key=lambda r: (r["_source_file"], r["order_id"]))


def _quarantine(settings: Settings) -> list[tuple]:
    return sorted(
        (r["scope"], r["reason"], r["source_file"].rsplit("/", 1)[-1], r["line"], r["column_name"])
        for r in read_quarantine(open_catalog(settings)).to_pylist()
    )


def _snapshots(settings: Settings) -> int:
    """Commits of raw.orders that carry a batch (Write-Audit-Publish starts an empty table with one
    empty snapshot, to branch from)."""
    table = open_catalog(settings).load_table("raw.orders")
    return sum(
        1 for s in table.snapshots() if s.summary and "foundation.run-id" in s.summary.additional_properties
    )


def test_a_backlog_gives_the_same_answer_in_process_and_on_the_cluster(tmp_path, ray_cluster) -> None:
    here = Settings.for_data_dir(tmp_path / "here", sensor_min_file_age_seconds=0)
    there = Settings.for_data_dir(
        tmp_path / "there", sensor_min_file_age_seconds=0, ray_address=ray_cluster.address
    )
    assert _backlog(here) == _backlog(there)
    for data_dir in (here.data_dir, there.data_dir):  # the orders' suite checks their customers exist
        customers = Settings.for_data_dir(data_dir)
        land(customers, "customers/c.csv", customers_csv(1, 7))
        ingest_dataset(customers, load_registry(customers.sources_file)["customers"], run_id="customers")

    seconds, execution = {}, {}
    for name, settings in (("in-process", here), ("cluster", there)):
        started = time.perf_counter()
        result = materialize_raw(settings, ORDERS)
        seconds[name] = time.perf_counter() - started
        assert result.success
        [materialization] = result.asset_materializations_for_node("raw__orders")
        execution[name] = materialization.metadata["execution"].value
    print(f"20-file backlog: in-process {seconds['in-process']:.1f} s, cluster {seconds['cluster']:.1f} s")

    assert _raw(there) == _raw(here)
    quarantine = _quarantine(here)
    assert {(scope, file) for scope, _, file, _, _ in quarantine} >= {
        ("file", "o11.csv"),
        ("row", "o13.csv"),
        ("duplicate", "o17.csv"),
    }
    assert _quarantine(there) == quarantine
    assert _snapshots(here) == _snapshots(there) == 1  # one commit for the batch
    files = {f"o{n:02d}.csv" for n in range(20)} - {"o11.csv", "o17.csv"}
    assert {r["_source_file"] for r in _raw(there)} == files
    assert any(r.get("coupon") == "X1" for r in _raw(there))  # the column added mid-batch
    # The asset's metadata says which path ran.
    assert execution["in-process"] == "in-process"
    assert execution["cluster"].startswith(f"Ray cluster at {ray_cluster.address}: 2 node(s), 2 CPU(s)")


class KillOnce(TableConverter):
    """The table converter, except that the first task to run it kills its own worker process (SIGKILL,
    as the OOM killer or a lost node would), leaving a marker in the data dir that says it did."""

    def __call__(
        self, unit: Unit, paths: list[Path], *, lineage: dict, out_path: Path, table_columns: dict
    ) -> Converted:
        try:
            os.close(os.open(self.settings.data_dir / "killed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return super().__call__(
                unit, paths, lineage=lineage, out_path=out_path, table_columns=table_columns
            )
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


def test_a_worker_killed_mid_batch_is_retried_and_nothing_lands_twice(
    tmp_path,
    ray_cluster,
    monkeypatch,
    caplog,
) -> None:
    settings = Settings.for_data_dir(
        tmp_path / "data", sensor_min_file_age_seconds=0, ray_address=ray_cluster.address
    )
    for n in range(6):
        land(settings, f"orders/k{n}.csv", orders_csv(n * 10, 4))
    # The worker imports this module to unpickle the converter (the cluster has the test's PYTHONPATH).
    monkeypatch.setattr("dagster_project.ingest.run.TableConverter", KillOnce)
    log = logging.getLogger("test_on_ray")

    with caplog.at_level(logging.INFO, logger="test_on_ray"):
        report = ingest_dataset(
            settings, load_registry(settings.sources_file)["orders"], run_id="kill", log=log
        )

    assert (settings.data_dir / "killed").exists()  # a worker did die mid-batch
    assert report.execution.startswith(f"Ray cluster at {ray_cluster.address}")
    assert len(report.ingested) == 6 and report.rows == 24 and not report.quarantined
    rows = open_catalog(settings).load_table("raw.orders").scan().to_arrow()
    per_file = {}
    for uri in rows.column("_source_file").to_pylist():
        per_file[uri] = per_file.get(uri, 0) + 1
    assert sorted(per_file.values()) == [4] * 6  # each file's rows exactly once
    assert sorted(rows.column("order_id").to_pylist()) == sorted(
        n * 10 + i for n in range(6) for i in range(4)
    )
    assert _snapshots(settings) == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith(f"Ray cluster at {ray_cluster.address}") for m in messages
    )  # the cluster, in the log
    assert "[6/6] file(s) converted on the cluster" in messages  # and its progress


class BlindWorkers(TableConverter):
    """The table converter, except that on a Ray worker it cannot read the landed file (as a worker
    without the landing zone's credentials, or with a local folder it does not have)."""

    def __call__(
        self, unit: Unit, paths: list[Path], *, lineage: dict, out_path: Path, table_columns: dict
    ) -> Converted:
        if os.environ.get("BLIND_WORKERS_DRIVER") != str(os.getpid()):  # set in the test's process only
            raise PermissionError(13, "Permission denied", str(paths[0]))
        return super().__call__(unit, paths, lineage=lineage, out_path=out_path, table_columns=table_columns)


def test_workers_that_cannot_read_the_files_leave_the_run_correct_and_say_so(
    tmp_path, ray_cluster, monkeypatch, caplog
) -> None:
    settings = Settings.for_data_dir(
        tmp_path / "data", sensor_min_file_age_seconds=0, ray_address=ray_cluster.address
    )
    for n in range(3):
        land(settings, f"orders/b{n}.csv", orders_csv(n * 10, 4))
    monkeypatch.setattr("dagster_project.ingest.run.TableConverter", BlindWorkers)
    monkeypatch.setenv("BLIND_WORKERS_DRIVER", str(os.getpid()))
    log = logging.getLogger("test_on_ray")

    with caplog.at_level(logging.INFO, logger="test_on_ray"):
        report = ingest_dataset(settings, load_registry(settings.sources_file)["orders"], run_id="b", log=log)

    assert len(report.ingested) == 3 and report.rows == 12 and not report.quarantined  # redone by the run
    first, summary = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert first.startswith("orders/b0.csv: not converted on the cluster (PermissionError")
    assert "reach the landing zone" in first
    assert summary.startswith("3 of 3 file(s) were converted in this process, not on the cluster")


def test_an_unreachable_cluster_fails_the_run_and_quarantines_nothing(tmp_path) -> None:
    import ray

    ray.shutdown()  # a connection of this process (another test's cluster) would be reused
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings.for_data_dir(tmp_path / "data", sensor_min_file_age_seconds=0, ray_address=address)
    land(settings, "orders/a.csv", orders_csv(1, 3))
    land(settings, "orders/b.csv", "not,a\nreal orders file\n")

    with pytest.raises(EnvironmentFailure, match=address):
        ingest_dataset(settings, load_registry(settings.sources_file)["orders"], run_id="down")

    assert read_quarantine(open_catalog(settings)).num_rows == 0
    assert _snapshots(settings) == 0


def test_documents_are_extracted_on_the_cluster_with_the_same_rows(tmp_path, ray_cluster) -> None:
    from dagster_project.documents.config import load_documents_config
    from dagster_project.documents.ingest import ingest_documents

    rows = {}
    for name, address in (("here", None), ("there", ray_cluster.address)):
        settings = Settings.for_data_dir(tmp_path / name, ray_address=address)
        config = load_documents_config(settings.documents_file)
        land(settings, f"{config.prefix}returns.md", "# Returns\n\nYou have 30 days to return an item.\n")
        land(settings, f"{config.prefix}faq.html", "<h1>FAQ</h1><p>Ask us anything.</p>")
        land(settings, f"{config.prefix}faq.html.metadata.json", '{"team": "support"}')
        report = ingest_documents(settings, config, run_id=name)
        assert len(report.ingested) == 2
        assert report.execution.startswith("Ray cluster") == (address is not None)
        table = open_catalog(settings).load_table("raw.documents").scan().to_arrow()
        rows[name] = sorted(
            table.drop_columns(["_source_file", "_ingested_at", "_run_id"]).to_pylist(),
            key=lambda r: r["path"],
        )
    assert rows["there"] == rows["here"]


def test_a_worker_failed_by_its_environment_says_why_and_a_rejection_does_not(tmp_path) -> None:
    """What a worker could not convert the driver converts again; for the worker's environment (no
    credentials, a landing folder it does not have) the task says why, so the run can say the cluster
    did not do it, rather than log it as converted on the cluster."""
    from datetime import UTC, datetime

    from dagster_project.ingest.on_ray import convert_on_worker
    from dagster_project.ingest.read_errors import FileRejected
    from dagster_project.ingest.units import Lineage
    from dagster_project.landing.zone import open_landing

    settings = Settings.for_data_dir(tmp_path / "data")
    land(settings, "orders/a.csv", orders_csv(1, 2))
    unit = Unit(open_landing(settings).stat("orders/a.csv"))
    lineage = Lineage("run", datetime.now(UTC))

    def no_credentials(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("Unable to locate credentials")

    def rejected(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise FileRejected("unreadable", "line 2: not CSV")

    assert convert_on_worker(settings, no_credentials, lineage, unit, 1, {}) == (
        "RuntimeError: Unable to locate credentials"
    )
    assert convert_on_worker(settings, rejected, lineage, unit, 1, {}) is None


def test_a_connection_lost_mid_batch_is_an_environment_failure_naming_the_cluster(
    tmp_path, monkeypatch
) -> None:
    """Ray Client loses the head mid-batch: the run fails as the environment (retried), naming the
    cluster, and makes no Ray call after it (one would start a local Ray instance and hide why)."""
    from datetime import UTC, datetime

    import ray

    from dagster_project.cluster import ClusterInfo
    from dagster_project.ingest import on_ray
    from dagster_project.ingest.units import Lineage
    from dagster_project.landing.zone import open_landing

    settings = Settings.for_data_dir(tmp_path / "data")
    land(settings, "orders/a.csv", orders_csv(1, 2))
    units = [Unit(open_landing(settings).stat("orders/a.csv"))]

    class Task:
        def remote(self, *args):  # noqa: ANN002, ANN202
            return object()

    def lost(ref):  # noqa: ANN001, ANN202
        raise ConnectionError("Client is shutting down.")

    calls: list = []
    monkeypatch.setattr(on_ray, "_task", Task)
    monkeypatch.setattr(ray, "put", lambda value: value)
    monkeypatch.setattr(ray, "get", lost)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "cancel", calls.append)
    cluster = ClusterInfo("ray://head:10001", 1, 2, 0)
    batch = on_ray._in_order(
        units, None, settings, tmp_path, Lineage("run", datetime.now(UTC)), {}, cluster, logging.getLogger()
    )
    with pytest.raises(
        EnvironmentFailure, match=r"connection to the Ray cluster at ray://head:10001.* was lost"
    ):
        list(batch)
    assert calls == []
