"""Reading ahead: a batch's units fetched and converted a few at a time, taken in order by the engine.

Many small files are bound by per-file latency (a DuckDB query, a fetch), not by the cores; the
engine alone decides and records what happens to each unit (see `ingest_units`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from dagster_project.ingest.convert import Converted
from dagster_project.ingest.report import Converter
from dagster_project.ingest.units import Handled, Lineage, Unit, combined_checksum


@dataclass
class Ahead:
    """A unit fetched and converted ahead of its turn, against the state before its window."""

    unit: Unit  # the version read
    checksum: str
    converted: Converted
    columns: dict[str, str]  # the table's columns it was cast to


def read_ahead(
    units: Sequence[Unit],
    workers: int,
    convert: Converter,
    landing,  # noqa: ANN001 - LocalLanding | S3Landing
    scratch: Path,
    handled: Handled,
    lineage_base: Lineage,
    table_columns: dict[str, str],
) -> Iterator[tuple[int, Unit, Ahead | None]]:
    """Each unit in order, with its conversion done ahead in worker threads when `workers` > 1.

    The workers only read: a window of units is fetched and converted at once against what was
    handled before the window, then its results are taken in order by the caller (which alone
    changes the report and `handled`). Anything but a clean conversion (a skip, a duplicate, a
    rejection, an error) comes back as None and is read again one by one, so each rule about
    files keeps its one place in `_ingest_one`.
    """
    if workers <= 1 or len(units) <= 1:
        yield from ((index, unit, None) for index, unit in enumerate(units, start=1))
        return
    window = workers * 4
    with ThreadPoolExecutor(workers, thread_name_prefix="ingest") as pool:
        for start in range(0, len(units), window):
            columns = dict(table_columns)  # as it is before this window
            futures = [
                pool.submit(
                    _convert_ahead, unit, index, convert, landing, scratch, handled, lineage_base, columns
                )
                for index, unit in enumerate(units[start : start + window], start=start + 1)
            ]
            # All of the window first: the caller changes `handled`, which the workers read.
            done = [future.result() for future in futures]
            for index, (unit, ahead) in enumerate(zip(units[start:], done, strict=False), start=start + 1):
                yield index, unit, ahead


def _convert_ahead(
    unit: Unit,
    index: int,
    convert: Converter,
    landing,  # noqa: ANN001 - LocalLanding | S3Landing
    scratch: Path,
    handled: Handled,
    lineage_base: Lineage,
    columns: dict[str, str],
) -> Ahead | None:
    """Fetch and convert one unit that needs work, without recording anything; None for anything else."""
    try:
        with ExitStack() as stack:
            fetched = [stack.enter_context(landing.fetch(f, scratch)) for f in (unit.file, *unit.companions)]
            unit = Unit(fetched[0].file, tuple(f.file for f in fetched[1:]))
            checksum = combined_checksum([f.checksum for f in fetched])
            if not needs_work(handled, (unit.file.uri, checksum), landing.uri):
                return None
            lineage = lineage_base.values(unit, checksum)
            out_path = scratch / f"{index:05d}.parquet"
            converted = convert(
                unit, [f.path for f in fetched], lineage=lineage, out_path=out_path, table_columns=columns
            )
    except Exception:  # noqa: BLE001 - a rejection, a change, the environment: read again in turn,
        return None  # where each has its record, message or retry (alone, it may also fit in memory)
    return Ahead(unit, checksum, converted, columns)


def needs_work(handled: Handled, identity: tuple[str, str], root: str) -> bool:
    """Whether `_ingest_one` would convert this version: not handled and, when skipped, not a duplicate."""
    root = f"{root}/"
    uri = identity[0]
    tail = uri[len(root) - 1 :] if uri.startswith(root) else ""
    if handled.why(identity, tail) is not None:
        return False
    return not handled.skip_duplicates or (
        handled.recorded_duplicate(identity) is None and handled.duplicate_of(identity) is None
    )


def still_new(ahead: Ahead, handled: Handled, table_columns: dict[str, str], root: str) -> bool:
    """A unit converted ahead still counts as is: no earlier file of its window took its bytes or
    added columns it was not cast to."""
    return ahead.columns == table_columns and needs_work(handled, (ahead.unit.file.uri, ahead.checksum), root)
