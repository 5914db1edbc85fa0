"""Reading ahead on the Ray cluster: a batch's units fetched, checksummed and converted by Ray tasks.

The Ray variant of `read_ahead.py`. Each unit is one task on a worker: it opens the landing zone
from the settings, fetches and converts the unit into its own scratch folder, and sends back the
conversion with the staged Parquet file's bytes through Ray's object store, so workers share no disk
with the driver. The driver writes the bytes into the run's scratch folder and takes the results in
order, exactly as it takes a thread's: it alone decides, records and commits (one Iceberg commit per
batch, see `ingest_units`). Anything but a clean conversion comes back as None and is read again by
the driver one by one, so each rule about files keeps its one place in `_ingest_one`.

Ray is imported only inside functions: definitions and the in-process path never load it.
"""

from __future__ import annotations

import logging
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from dagster_project.cluster import ClusterInfo, connected
from dagster_project.errors import EnvironmentFailure, FoundationError
from dagster_project.ingest.convert import Converted
from dagster_project.ingest.read_ahead import Ahead
from dagster_project.ingest.read_errors import FileRejected
from dagster_project.ingest.report import Converter, IngestReport
from dagster_project.ingest.units import Lineage, Unit, combined_checksum
from dagster_project.landing.store import FileChanged
from dagster_project.landing.zone import open_landing
from dagster_project.settings import Settings

# A worker process that dies mid-task (killed, out of memory, its node lost) is retried by Ray this
# many times; the driver commits only once every unit is back, so a retried task lands nothing twice.
TASK_RETRIES = 3
# Tasks in flight per cluster CPU: each worker has its next file queued while the driver stages the last.
TASKS_PER_CPU = 2


@dataclass(frozen=True)
class Shipped:
    """What a task sends back: the version it read, its checksum, the conversion and the staged bytes."""

    unit: Unit
    checksum: str
    converted: Converted  # its path is the worker's: the driver writes `parquet` to its own
    parquet: bytes


def read_ahead_on_cluster(
    units: Sequence[Unit],
    convert: Converter,
    settings: Settings,
    scratch: Path,
    lineage_base: Lineage,
    table_columns: dict[str, str],
    *,
    report: IngestReport,
    log: logging.Logger,
) -> Iterator[tuple[int, Unit, Ahead | None]]:
    """Each unit in order, converted ahead on the cluster (see the module's docstring), connected to
    the cluster for as long as the batch is read; `report.execution` says which cluster.

    A unit is sent with the table's columns as they are when it is sent (`table_columns` is the
    caller's dict, which it updates as it stages): a unit sent before an earlier one added columns
    no longer counts as is (`still_new`) and is read again by the caller.

    Args:
        units: The batch's units, oldest first.
        convert: The converter, picklable: it is shipped to the workers once per batch.
        settings: Pickled to the workers, which open the landing zone from it.
        scratch: The run's scratch folder on the driver, where the staged files are written.
        lineage_base: The batch's lineage (each unit's values need the checksum the worker computes).
        table_columns: The table's data columns, as the caller keeps them.
        report: The run's report (`execution`).
        log: Where progress goes (the cluster, then about ten lines of progress).

    Raises:
        EnvironmentFailure: The cluster cannot be reached (before any file is read), or a task failed
            there past its retries (a worker or node kept dying, the code could not be loaded there):
            the run is retried, nothing is quarantined.
    """
    if not units:
        return
    with connected(settings, log) as cluster:
        report.execution = cluster.describe()
        yield from _in_order(units, convert, settings, scratch, lineage_base, table_columns, cluster, log)


def _in_order(
    units: Sequence[Unit],
    convert: Converter,
    settings: Settings,
    scratch: Path,
    lineage_base: Lineage,
    table_columns: dict[str, str],
    cluster: ClusterInfo,
    log: logging.Logger,
) -> Iterator[tuple[int, Unit, Ahead | None]]:
    """Tasks sent a window ahead (twice the cluster's CPUs), their results taken in order."""
    import ray

    task = _task()
    shared = [ray.put(settings), ray.put(convert), ray.put(lineage_base)]  # once per batch, not per task
    window = max(1, int(cluster.cpus * TASKS_PER_CPU))
    pending: deque[tuple[Any, dict[str, str]]] = deque()
    sent = 0
    redone = 0  # units a worker could not convert for its environment, done by the driver instead
    step = max(1, len(units) // 10)  # about ten progress lines per batch
    try:
        for index, unit in enumerate(units, start=1):
            while sent < len(units) and sent < index - 1 + window:
                columns = dict(table_columns)  # as it is when the unit is sent
                pending.append((task.remote(*shared, units[sent], sent + 1, columns), columns))
                sent += 1
            ref, columns = pending.popleft()
            try:
                shipped: Shipped | str | None = ray.get(ref)
            except ray.exceptions.RayError as exc:
                raise EnvironmentFailure(
                    f"{unit.label}: its conversion failed on the {cluster.describe()} after "
                    f"{TASK_RETRIES} retries ({type(exc).__name__}: {str(exc)[:500]}); the run may be retried"
                ) from exc
            except ConnectionError as exc:  # Ray Client: the head (its client server) went away
                raise EnvironmentFailure(
                    f"{unit.label}: the connection to the {cluster.describe()} was lost ({exc}); check "
                    "that the head node is up; the run may be retried"
                ) from exc
            if index % step == 0 or index == len(units):
                log.info("[%d/%d] file(s) converted on the cluster", index, len(units))
            if isinstance(shipped, str):  # the worker's environment failed it: the driver does it instead
                redone += 1
                if redone == 1:
                    log.warning(
                        "%s: not converted on the cluster (%s); converted in this process instead. Check "
                        "that the workers reach the landing zone (an object store, not a local folder), "
                        "with its credentials and settings in their own environment",
                        unit.label,
                        shipped,
                    )
                shipped = None
            if shipped is None:
                yield index, unit, None
                continue
            out_path = scratch / f"{index:05d}.parquet"
            out_path.write_bytes(shipped.parquet)
            converted = replace(shipped.converted, path=out_path)
            yield index, unit, Ahead(shipped.unit, shipped.checksum, converted, columns)
    finally:  # a batch that stopped early (a failure, a file redone that failed) leaves no task running
        # Only while connected: a Ray call after the connection was lost would start a local Ray
        # instance in this process (Ray's auto-init) and fail, hiding why the batch stopped.
        for ref, _ in pending if ray.is_initialized() else ():
            try:
                ray.cancel(ref)
            except (ray.exceptions.RayError, ConnectionError):  # the connection went while cancelling
                break
        if redone:
            log.warning(
                "%d of %d file(s) were converted in this process, not on the cluster (their workers failed)",
                redone,
                len(units),
            )


@cache
def _task() -> Any:  # noqa: ANN401 - a Ray remote function
    import ray

    return ray.remote(num_cpus=1, max_retries=TASK_RETRIES)(convert_on_worker)


def convert_on_worker(
    settings: Settings,
    convert: Converter,
    lineage_base: Lineage,
    unit: Unit,
    index: int,
    columns: dict[str, str],
) -> Shipped | str | None:
    """One Ray task: fetch, checksum and convert one unit in a scratch folder of its own; None for
    a rejection or a change, the cause (text) when the worker's own environment failed it (no
    credentials, a landing folder it does not have, a full disk): the driver reads the unit again in
    turn, where each has its record, message or retry, and says so for an environment."""
    with tempfile.TemporaryDirectory(prefix="foundation-ingest-") as folder:
        scratch = Path(folder)
        try:
            landing = open_landing(settings)
            with ExitStack() as stack:
                fetched = [
                    stack.enter_context(landing.fetch(f, scratch)) for f in (unit.file, *unit.companions)
                ]
                unit = Unit(fetched[0].file, tuple(f.file for f in fetched[1:]))
                checksum = combined_checksum([f.checksum for f in fetched])
                converted = convert(
                    unit,
                    [f.path for f in fetched],
                    lineage=lineage_base.values(unit, checksum),
                    out_path=scratch / f"{index:05d}.parquet",
                    table_columns=columns,
                )
            parquet = converted.path.read_bytes()  # after the fetch: a file that changed raised on its exit
        except (FileRejected, FileChanged, FoundationError):  # its content: the driver records it
            return None
        except Exception as exc:  # noqa: BLE001 - read again by the driver, which says the worker failed
            return f"{type(exc).__name__}: {exc}"[:300]
    return Shipped(unit, checksum, replace(converted, path=Path(converted.path.name)), parquet)
