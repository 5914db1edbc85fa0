"""Ingests landed files of one dataset into its raw Iceberg table: the engine's loop, the table converter."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
from pyiceberg.table import Table

from dagster_project.ingest.convert import Converted, Limits, connect, convert_file
from dagster_project.ingest.engine import IngestReport, ingest_units
from dagster_project.ingest.fast_lane import convert_group
from dagster_project.ingest.units import Unit
from dagster_project.landing.names import label
from dagster_project.landing.store import LandedFile, LandingEntryRefused, Skipped
from dagster_project.landing.zone import open_landing
from dagster_project.quality.suites import Suite
from dagster_project.registry import Dataset
from dagster_project.settings import Settings

__all__ = ["IngestReport", "TableConverter", "ingest_dataset", "landed_files", "limits", "listed_files"]
LISTING_THREADS = 8  # datasets listed at once: each listing mostly waits on the store
_worker_connection: list[duckdb.DuckDBPyConnection] = []  # a Ray worker process's own, opened on first use


def landed_files(
    settings: Settings, dataset: Dataset, skipped: list[Skipped] | None = None
) -> list[LandedFile]:
    """Every file of the dataset in the landing zone, handled or not, oldest first.

    Links and the like go to `skipped`. Which of them are still to ingest is decided later, against
    the handled versions.
    """
    landing = open_landing(settings)
    files = [f for f in landing.list(dataset.prefix, skipped=skipped) if dataset.matches(f.key)]
    # The order of `LandedFile` (mtime, then key: unique in one listing), by a key: the dataclass's own
    # comparisons build two tuples per comparison, 20 times slower on 10,000 files.
    return sorted(files, key=lambda f: (f.mtime_ns, f.key))


def listed_files(
    settings: Settings, datasets: Sequence[Dataset]
) -> Iterator[tuple[Dataset, list[LandedFile]]]:
    """`landed_files` of each dataset (handled or not), all listed at once, handed out in the order given.

    A listing mostly waits on the store (S3 pages, each a round trip): listed one after another,
    the waits add up; here they overlap each other and whatever the caller does with the datasets
    handed out first (loading their tables and handled versions).

    Raises:
        LandingUnavailable: A listing failed (raised when its dataset's turn comes).
    """
    if not datasets:
        return
    pool = ThreadPoolExecutor(min(len(datasets), LISTING_THREADS), thread_name_prefix="landing-list")
    try:
        listings = [(dataset, pool.submit(landed_files, settings, dataset)) for dataset in datasets]
        for dataset, listing in listings:
            yield dataset, listing.result()
    finally:  # a caller that stops early (or fails) does not wait for listings it will not read
        pool.shutdown(wait=False, cancel_futures=True)


def limits(settings: Settings, dataset: Dataset) -> Limits:
    """The limits a landed file of `dataset` must keep, from the settings and the registry."""
    return Limits(
        max_columns=settings.max_columns,
        max_new_columns=settings.max_new_columns_per_file,
        max_nesting_depth=settings.max_nesting_depth,
        max_record_bytes=settings.max_record_bytes,
        max_rejected_rows=settings.max_rejected_rows_per_file,
        whole_file_on_bad_rows=dataset.bad_rows == "file",
    )


@dataclass(frozen=True)
class TableConverter:
    """The table converter in the form that ships to Ray workers (`on_ray.py`): settings, dataset and
    limits pickle; each worker process opens one DuckDB connection of its own, on first use."""

    settings: Settings
    dataset: Dataset
    limits: Limits

    def __call__(
        self,
        unit: Unit,
        paths: list[Path],
        *,
        lineage: dict[str, str],
        out_path: Path,
        table_columns: dict[str, str],
    ) -> Converted:
        if not _worker_connection:
            # One thread: a task holds one of the cluster's CPUs. Spills go to the worker's own disk.
            spill = Path(tempfile.gettempdir()) / f"foundation-duckdb-{os.getpid()}"
            _worker_connection.append(connect(self.settings.duckdb_memory_limit, 1, spill))
        return convert_file(
            _worker_connection[0],
            self.dataset,
            paths[0],
            source_label=unit.label,
            table_columns=table_columns,
            lineage=lineage,
            out_path=out_path,
            limits=self.limits,
        )


def ingest_dataset(
    settings: Settings,
    dataset: Dataset,
    *,
    run_id: str,
    keys: Sequence[str] | None = None,
    retry_quarantined: bool = False,
    suite: Suite | None = None,
    log: logging.Logger | None = None,
    before_commit: Callable[[], None] | None = None,
    into: Table | None = None,
) -> IngestReport:
    """Ingest landed files of one dataset into `raw.<dataset>` in one atomic commit.

    Args:
        settings: Where the landing zone, warehouse and catalog are.
        dataset: The registry entry.
        run_id: Dagster run id (lineage column and snapshot summary).
        keys: Landing keys to ingest; all files under the dataset's prefix when None.
        retry_quarantined: Try again file versions that were quarantined before.
        suite: The table's expectation suite: the batch then goes through Write-Audit-Publish.
        log: Where progress goes.
        before_commit: Fault-injection hook, called right before the commit.
        into: Write this table instead of `raw.<dataset>` (a rebuild's new table).

    Returns:
        The report: files ingested, skipped and quarantined, rows set apart, snapshot id.

    Raises:
        EnvironmentFailure: Disk, memory, permissions, catalog or store failed; retry the run.
    """
    log = log or logging.getLogger(__name__)
    landing = open_landing(settings)
    skipped: list[dict] = []
    if keys is None:
        entries: list[Skipped] = []
        files = landed_files(settings, dataset, entries)
        skipped += [{"file": label(e.key), "why": f"not read ({e.why})"} for e in entries]
    else:
        files = []
        for key in keys:
            try:
                files.append(landing.stat(key))
            except FileNotFoundError:
                log.warning("%s: no longer in the landing zone; skipped", label(key))
                skipped.append({"file": label(key), "why": "no longer in the landing zone"})
            except LandingEntryRefused as refused:
                log.warning("%s", refused)
                skipped.append({"file": label(key), "why": f"not read ({refused.why})"})
    con = connect(settings.duckdb_memory_limit, settings.duckdb_threads, settings.work_dir / "duckdb")
    file_limits = limits(settings, dataset)
    # Files are converted by a few threads at once, each on its own cursor of the one database (one
    # memory limit for the run): many small files are bound by per-file latency, not by the cores.
    cursors = threading.local()
    opened: list = []

    def cursor():  # noqa: ANN202 - a DuckDB connection
        if threading.current_thread() is threading.main_thread():
            return con
        if not hasattr(cursors, "con"):
            cursors.con = con.cursor()
            opened.append(cursors.con)
        return cursors.con

    def convert(
        unit: Unit,
        paths: list[Path],
        *,
        lineage: dict[str, str],
        out_path: Path,
        table_columns: dict[str, str],
    ) -> Converted:
        return convert_file(
            cursor(),
            dataset,
            paths[0],
            source_label=unit.label,
            table_columns=table_columns,
            lineage=lineage,
            out_path=out_path,
            limits=file_limits,
        )

    def group(
        units: list[Unit],
        paths: list[Path],
        lineages: list[dict[str, str]],
        table_columns: dict[str, str],
        out_dir: Path,
    ) -> list[Converted] | None:
        labels = [u.label for u in units]
        return convert_group(con, dataset, paths, labels, lineages, table_columns, out_dir, file_limits)

    try:
        report = ingest_units(
            settings,
            dataset,
            [Unit(f) for f in files],
            convert,
            run_id=run_id,
            retry_quarantined=retry_quarantined,
            suite=suite,
            log=log,
            before_commit=before_commit,
            con=con,
            into=into,
            workers=min(4, settings.duckdb_threads or os.cpu_count() or 1),
            convert_group=group,
            remote=TableConverter(settings, dataset, file_limits),
        )
    finally:
        for c in opened:
            c.close()
        con.close()
    report.skipped[:0] = skipped
    return report
