"""A rebuild's swap: one commit gives a table another table's rows and column types, history kept.

The rebuilt rows become a new snapshot of the SAME table, in one commit with the type change
(an incompatible one is allowed here, on purpose): readers see the old rows with the old types
or the new rows with the new types, never a mix, and every older snapshot keeps the schema it
was written with, so `--as-of` still reads it as it was. The new snapshot is marked as a rebuild:
the file versions it carries are the table's whole content from then on (`ingested_versions`
stops there), so a file the rebuild quarantined is no longer counted as ingested.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from pyiceberg.exceptions import CommitFailedException
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.table import Table

from dagster_project import faults
from dagster_project.lakehouse.branches import main_head, single_attempt
from dagster_project.lakehouse.publish import (
    FILES_PROPERTY,
    REBUILD_PROPERTY,
    RUN_PROPERTY,
    VERSIONS_PROPERTY,
    ingested_versions,
    landing_versions,
)
from dagster_project.lakehouse.tables import LINEAGE_FIELDS
from dagster_project.landing.store import local_path

log = logging.getLogger(__name__)
SWAP_ATTEMPTS = 5
_LINEAGE = {name for name, _, _ in LINEAGE_FIELDS}


@dataclass(frozen=True)
class Swapped:
    """What a swap replaced and with what."""

    replaced_snapshot_id: int | None  # main before the swap: still readable with --as-of
    snapshot_id: int  # main after it
    type_changes: list[str]  # 'column: old → new' (and new columns)
    files: int  # landed file versions the table now holds


def _copy(table: Table, source_uri: str, target_uri: str) -> None:
    """Put a data file of the rebuilt table into the target's location (a hard link where possible)."""
    if "://" not in target_uri or target_uri.startswith("file:"):
        destination = local_path(target_uri)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(local_path(source_uri), destination)
        except OSError:  # another filesystem, or links not supported
            shutil.copyfile(local_path(source_uri), destination)
        return
    with table.io.new_input(source_uri).open() as source, table.io.new_output(target_uri).create() as sink:
        shutil.copyfileobj(source, sink, 8 << 20)


def swap_in(target: Table, rebuilt: Table, *, run_id: str) -> Swapped:
    """Replace `target`'s rows and column types with `rebuilt`'s in one atomic commit on `target`.

    Args:
        target: The table readers use (e.g. `raw.orders`).
        rebuilt: A table with the same lineage columns, holding the whole new content on main.
        run_id: The rebuild's id, in the snapshot summary.

    Returns:
        The snapshot replaced, the new one and the type changes.

    Raises:
        CommitFailedException: Other writers kept committing to `target`; nothing was swapped.
    """
    rebuilt.refresh()
    files = [task.file.file_path for task in rebuilt.scan().plan_files()] if main_head(rebuilt) else []
    identities = sorted(ingested_versions(rebuilt))
    day = datetime.now(UTC).date().isoformat()
    placed = []
    for index, uri in enumerate(files):
        name = f"{run_id}-{index:05d}-{uuid.uuid4().hex[:8]}.parquet"
        placed.append(f"{target.location()}/data/_ingested_day={day}/{name}")
        _copy(target, uri, placed[-1])
    new_schema = rebuilt.schema()
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        target.refresh()
        replaced = main_head(target)
        summary = {
            FILES_PROPERTY: json.dumps([list(i) for i in identities]),
            VERSIONS_PROPERTY: json.dumps(dict(sorted(landing_versions(rebuilt)))),
            RUN_PROPERTY: run_id,
            REBUILD_PROPERTY: json.dumps({"replaced_snapshot_id": replaced}),
        }
        changes: list[str] = []
        try:
            with single_attempt(target).transaction() as tx:
                if replaced is not None:
                    tx.delete(AlwaysTrue(), snapshot_properties={RUN_PROPERTY: run_id})
                current = {f.name: f for f in tx.table_metadata.schema().fields}
                with tx.update_schema(allow_incompatible_changes=True) as update:
                    for field in new_schema.fields:
                        if field.name in _LINEAGE:
                            continue
                        old = current.get(field.name)
                        if old is None:
                            update.add_column(field.name, field.field_type, doc=field.doc)
                            update.move_before(field.name, LINEAGE_FIELDS[0][0])
                            changes.append(f"{field.name}: new column ({field.field_type})")
                        elif old.field_type != field.field_type:
                            update.update_column(field.name, field.field_type)
                            changes.append(f"{field.name}: {old.field_type} → {field.field_type}")
                if placed:
                    tx.add_files(placed, snapshot_properties=summary, check_duplicate_files=False)
                faults.reached("rebuild.before_swap")  # an exception here leaves the transaction uncommitted
        except CommitFailedException as exc:
            log.info("%s: swap conflicted (attempt %d): %s", ".".join(target.name()), attempt, exc)
            continue
        target.refresh()
        faults.reached("rebuild.swapped")
        head = main_head(target)
        assert head is not None
        return Swapped(replaced, head, changes, len(identities))
    for uri in placed:
        target.io.delete(uri)
    raise CommitFailedException(
        f"{'.'.join(target.name())}: other writers kept committing during the rebuild's swap; nothing "
        "was swapped: run the rebuild again"
    )
