"""What the engine ingests and how it knows a version needs no work.

A `Unit` is one landed file with the files that belong to it (a document's sidecar), versioned
together; `Handled` answers whether a version is already committed, quarantined or staged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from blake3 import blake3

from dagster_project.lakehouse.ops_tables.handled_rows import (
    DUPLICATE,
    HELD,
    PUBLISHED,
    QUARANTINED,
    HandledAs,
)
from dagster_project.landing.store import LandedFile

if TYPE_CHECKING:
    from dagster_project.lakehouse.ops_tables.handled_files import HandledIndex


@dataclass(frozen=True)
class Lineage:
    """The lineage values a run writes with each file's rows.

    One commit gives every file of a batch the same sequence number, so the staging models tell
    versions of a key apart by `_ingested_at` (`latest_version`): each file's is the run's start
    plus its place in landing order (oldest first) in microseconds, so a re-delivery that landed
    later wins within a batch as it does across batches.
    """

    run_id: str
    started_at: datetime
    places: dict[str, int] = field(default_factory=dict)  # file URI -> place in landing order

    @classmethod
    def of_batch(cls, run_id: str, started_at: datetime, units: Sequence[Unit]) -> Lineage:
        """The lineage of a batch: `units` placed in landing order (modified time, then key)."""
        ordered = sorted(units, key=lambda u: (u.file.mtime_ns, u.file.key))
        return cls(run_id, started_at, {u.file.uri: n for n, u in enumerate(ordered)})

    def ingested_at(self, uri: str) -> str:
        """The file's `_ingested_at` (ISO 8601)."""
        return (self.started_at + timedelta(microseconds=self.places.get(uri, 0))).isoformat()

    def values(self, unit: Unit, checksum: str) -> dict[str, str]:
        """The lineage columns' values for one unit's rows, as `convert_file` takes them."""
        return {
            "_source_file": unit.file.uri,
            "_source_checksum": checksum,
            "_ingested_at": self.ingested_at(unit.file.uri),
            "_run_id": self.run_id,
        }


@dataclass(frozen=True)
class Unit:
    """One landed version to ingest: a file, plus companions that belong to it (a document's sidecar).

    Its version covers the companions' too, so editing only a companion is a new version.
    """

    file: LandedFile
    companions: tuple[LandedFile, ...] = ()

    @property
    def key(self) -> str:
        return self.file.key

    @property
    def label(self) -> str:
        """The key as safe text for messages, metadata and Iceberg strings."""
        return self.file.label

    @property
    def versioned(self) -> LandedFile:
        """The file as one versioned unit (sensors and the exactly-once records use this version)."""
        if not self.companions:
            return self.file
        files = [self.file, *self.companions]
        return replace(
            self.file,
            etag="+".join(f.version for f in files),
            mtime_ns=max(f.mtime_ns for f in files),
            ctime_ns=max(f.ctime_ns for f in files),  # an in-place edit of either is a change
        )


def combined_checksum(checksums: Sequence[str]) -> str:
    """One identity for a file and its companions (a document and its sidecar)."""
    if len(checksums) == 1:
        return checksums[0]
    return blake3(":".join(checksums).encode()).hexdigest()


@dataclass
class Handled:
    """File versions that need no work: committed on main, quarantined whole, or staged in this run.

    A version is its URI and checksum. A landing zone that moved (the data folder copied or
    renamed, another bucket prefix) changes every URI: a file with the same bytes at the same key
    below the new root is the same version, so it is known by its checksum and its key too.
    """

    done: dict[tuple[str, str], int]
    quarantined: set[tuple[str, str]]
    staged: dict[tuple[str, str], Unit] = field(default_factory=dict)
    # Versions recorded as duplicates before (ops.quarantine, scope 'duplicate'): URI, checksum → original.
    duplicates: dict[tuple[str, str], str] = field(default_factory=dict)
    # Versions quarantined whole by this run: a copy of their bytes later in the batch is a duplicate.
    rejected: dict[str, str] = field(default_factory=dict)  # checksum → URI
    skip_duplicates: bool = True  # the dataset's policy: 'skip' (True) or 'allow'
    # Bytes held back on an audit branch (URI, checksum -> snapshot), but for the versions this run
    # takes itself (a run of a held version audits it again): a touched copy waits with them.
    held: dict[tuple[str, str], int] = field(default_factory=dict)
    # The landing zone's root URI (with its final '/'): a version known at another URI below it is
    # another file (`orders/backup/orders/a.csv`), never the same file of a zone that moved.
    root: str = ""

    def __post_init__(self) -> None:
        self._by_checksum: dict[str, list[tuple[str, HandledAs]]] = {}
        for (uri, checksum), snapshot in self.done.items():
            self._by_checksum.setdefault(checksum, []).append((uri, HandledAs(PUBLISHED, snapshot)))
        for uri, checksum in self.quarantined:
            self._by_checksum.setdefault(checksum, []).append((uri, HandledAs(QUARANTINED)))
        # Recorded duplicates, for a landing zone that moved only (not candidates for `duplicate_of`).
        self._moved_duplicates: dict[str, list[tuple[str, HandledAs]]] = {}
        for (uri, checksum), original in self.duplicates.items():
            self._moved_duplicates.setdefault(checksum, []).append(
                (uri, HandledAs(DUPLICATE, duplicate_of=original))
            )

    def handled_as(self, identity: tuple[str, str], key_tail: str) -> tuple[HandledAs, str | None] | None:
        """How these bytes were handled by an earlier run, and where: None for that same URI, else the
        URI they had in a landing zone that has since moved; None if they were not (or only staged
        by this run).

        Args:
            identity: (URI, checksum) of the version.
            key_tail: The end of its URI below the landing root (`/orders/a.csv`), or "" if unknown.
        """
        if identity in self.done:
            return HandledAs(PUBLISHED, self.done[identity]), None
        if identity in self.quarantined:
            return HandledAs(QUARANTINED), None
        if identity in self.held:
            return HandledAs(HELD, self.held[identity]), None
        if identity in self.staged:
            return None
        uri, checksum = identity
        moved = self._by_checksum.get(checksum, []) + self._moved_duplicates.get(checksum, [])
        for known, handled in moved if key_tail else []:
            if known != uri and known.endswith(key_tail) and not (self.root and known.startswith(self.root)):
                return handled, known
        return None

    def why(self, identity: tuple[str, str], key_tail: str) -> str | None:
        """Why a version needs no work, or None if it does (arguments as for `handled_as`)."""
        found = self.handled_as(identity, key_tail)
        if found is None:
            if identity in self.staged:
                return f"same bytes as {self.staged[identity].label} in this run"
            return None
        handled, moved_from = found
        if moved_from is None:
            return handled.why()
        return f"{handled.why()}; it landed before as {moved_from} (the landing zone has moved)"

    def recorded_duplicate(self, identity: tuple[str, str]) -> str | None:
        """The URI this version was recorded a duplicate of, by an earlier run; None if it was not."""
        return self.duplicates.get(identity)

    def duplicate_of(self, identity: tuple[str, str]) -> str | None:
        """The URI of another version with the same bytes: on main, quarantined, or taken by this run.

        Only meaningful once `why` said the version needs work (a moved landing zone is not a copy).
        """
        uri, checksum = identity
        others = [known for known, _ in self._by_checksum.get(checksum, []) if known != uri]
        others += [u.file.uri for (known, c), u in self.staged.items() if c == checksum and known != uri]
        if checksum in self.rejected and self.rejected[checksum] != uri:
            others.append(self.rejected[checksum])
        return min(others) if others else None


def not_handled(
    units: Sequence[Unit],
    index: HandledIndex | None,
    skipped: list[dict[str, str]],
    *,
    name_of: Callable[[str], str],
    retry: bool,
    skip_duplicates: bool,
) -> list[Unit]:
    """The units whose landing version is not handled yet; the others go to `skipped` (file, why) unread;
    `name_of` gives the landing key of a URI, for the reasons.

    Versions held back by a failed audit are not skipped: a run of the asset audits them again.
    """
    if index is None:
        return list(units)
    known = index.reasons(
        ((u.file.uri, u.versioned.version) for u in units),
        held=False,
        quarantined=not retry,
        duplicates=skip_duplicates,
        name_of=name_of,
    )
    due = []
    for unit in units:
        why = known.get((unit.file.uri, unit.versioned.version))
        if why is None:
            due.append(unit)
        else:
            skipped.append({"file": unit.label, "why": why})
    return due
