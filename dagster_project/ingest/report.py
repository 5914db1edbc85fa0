"""What an ingest run reports, and what the engine asks of a converter (see `engine.py`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from dagster_project.ingest.convert import Converted
from dagster_project.ingest.units import Unit
from dagster_project.lakehouse.ops_tables.handled_rows import HandledAs
from dagster_project.lakehouse.ops_tables.quarantine import QuarantineRecord
from dagster_project.quality.gate import GateReport


class Converter(Protocol):
    """Turns one fetched unit into a staged Parquet file, or raises FileRejected."""

    def __call__(
        self,
        unit: Unit,
        paths: list[Path],
        *,
        lineage: dict[str, str],
        out_path: Path,
        table_columns: dict[str, str],
    ) -> Converted: ...


@dataclass
class IngestReport:
    """What one ingest run did to one dataset."""

    dataset: str
    table: str
    table_location: str
    snapshot_id: int | None
    ingested: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    quarantined: list[QuarantineRecord] = field(default_factory=list)  # whole files
    rejected_rows: list[QuarantineRecord] = field(default_factory=list)  # rows whose values do not fit
    duplicates: list[QuarantineRecord] = field(default_factory=list)  # same bytes as a file taken before
    # Skipped new landing versions of bytes handled before (URI, version, checksum, how): the manifest
    # records them, so that they are not requested again.
    handled_again: list[tuple[str, str, str, HandledAs]] = field(default_factory=list)
    new_columns: dict[str, str] = field(default_factory=dict)
    schema_changes: list[str] = field(default_factory=list)  # registry widenings applied in place
    seconds: dict[str, float] = field(default_factory=dict)
    gate: GateReport | None = None
    held_back: list[dict] = field(default_factory=list)
    # Where the files were converted: "in-process", or the Ray cluster's description (cluster.py).
    execution: str = "in-process"
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def rows(self) -> int:
        return sum(f["rows"] for f in self.ingested)

    @property
    def bytes(self) -> int:
        return sum(f["bytes"] for f in self.ingested)

    def counts(self) -> tuple[int, int]:
        """Files skipped and duplicates so far (for `what_became`)."""
        return len(self.skipped), len(self.duplicates)

    def what_became(self, rows: int | None, before: tuple[int, int]) -> str:
        """What became of the file taken since `counts()` was `before`, for its progress line: `5 rows
        staged` (`rows`), skipped (why), a duplicate, or quarantined."""
        if rows is not None:
            return f"{rows} row{'' if rows == 1 else 's'} staged"
        if len(self.skipped) > before[0]:
            return f"skipped ({self.skipped[-1]['why']})"
        return "a duplicate, skipped" if len(self.duplicates) > before[1] else "quarantined"

    @property
    def quarantine_records(self) -> list[QuarantineRecord]:
        """Every record this run writes to ops.quarantine: files, rows that did not fit, rows dropped,
        and duplicates (scope 'duplicate': skipped, recorded so that no run examines them again)."""
        return (
            self.quarantined + self.rejected_rows + (self.gate.dropped if self.gate else []) + self.duplicates
        )
