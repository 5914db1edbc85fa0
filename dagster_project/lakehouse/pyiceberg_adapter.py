"""The one module that reaches into pyiceberg's private members; each use names its public successor.

pyiceberg is pinned (0.12). Every private member used here is pinned by tests/lakehouse/
test_pyiceberg_adapter.py, so an upgrade that changes one fails there, in one place, instead of
somewhere in compaction or expiry. tests/test_adapters.py fails if another module touches them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pyiceberg.io import FileIO
from pyiceberg.manifest import DataFile, ManifestEntry, ManifestEntryStatus, ManifestFile
from pyiceberg.table import Transaction
from pyiceberg.table.refs import MAIN_BRANCH
from pyiceberg.table.snapshots import Operation, Summary
from pyiceberg.table.update import AssertRefSnapshotId

# Replaced by: a public rewrite producer (Java's `RewriteFiles`; pyiceberg has none in 0.12, only
# `UpdateSnapshot.overwrite()`, whose producer commits `overwrite` and gives new files this
# snapshot's sequence number).
from pyiceberg.table.update.snapshot import _OverwriteFiles


class _RewriteFiles(_OverwriteFiles):
    """A `replace` commit whose new files keep the data sequence number of the rows they hold.

    An overwrite's manifests with operation `replace` is a rewrite. The new files get the highest
    sequence number of the files they replace (as Java's RewriteFiles may), so incremental readers
    skip them by sequence number alone, whether or not this snapshot has expired when they read.
    Relies on `_OverwriteFiles._manifests`, `_summary`, `_added_data_files`, `_operation`,
    `_transaction` and `_snapshot_id`.
    """

    def __init__(
        self,
        transaction: Transaction,
        io: FileIO,
        sequence_numbers: Mapping[str, int],
        properties: dict[str, str],
    ):
        super().__init__(
            operation=Operation.REPLACE,
            transaction=transaction,
            io=io,
            snapshot_properties=properties,
            branch=MAIN_BRANCH,
        )
        self._sequence_numbers = dict(sequence_numbers)

    def _manifests(self) -> list[ManifestFile]:
        # The parent writes the added files with this snapshot's sequence number: hide them from it
        # and write them here with the sequence numbers of the rows they hold.
        added, self._added_data_files = self._added_data_files, []
        try:
            manifests = super()._manifests()
        finally:
            self._added_data_files = added
        spec = self._transaction.table_metadata.spec()
        with self.new_manifest_writer(spec) as writer:
            for data_file in added:
                writer.add(
                    ManifestEntry.from_args(
                        status=ManifestEntryStatus.ADDED,
                        snapshot_id=self._snapshot_id,
                        sequence_number=self._sequence_numbers[data_file.file_path],
                        data_file=data_file,
                    )
                )
        return [writer.to_manifest_file(), *manifests]

    def _summary(self, snapshot_properties: Mapping[str, str] = {}) -> Summary:  # noqa: B006 - read only
        # pyiceberg totals up only append/overwrite/delete summaries; the counts are the same.
        self._operation = Operation.OVERWRITE
        try:
            summary = super()._summary(dict(snapshot_properties))
        finally:
            self._operation = Operation.REPLACE
        return Summary(Operation.REPLACE, **summary.additional_properties)


def stage_rewrite(
    transaction: Transaction,
    io: FileIO,
    *,
    removed: Iterable[DataFile],
    added: Iterable[DataFile],
    sequence_numbers: Mapping[str, int],
    properties: dict[str, str],
) -> None:
    """Stage on main one `replace` snapshot that swaps `removed` data files for `added` ones.

    Replaced by: a public rewrite producer, were pyiceberg to add one (`UpdateSnapshot.rewrite()`
    or the like, after Java's `RewriteFiles`).

    Args:
        transaction: The transaction to stage into; the caller commits it.
        io: The table's file IO.
        removed: Data files the rewrite deletes.
        added: Data files it adds, holding the same rows.
        sequence_numbers: Data sequence number of each added file, by file path.
        properties: Snapshot summary properties.
    """
    rewrite = _RewriteFiles(transaction, io, sequence_numbers, properties)
    for data_file in removed:
        rewrite.delete_data_file(data_file)
    for data_file in added:
        rewrite.append_data_file(data_file)
    rewrite.commit()


def require_main_at(transaction: Transaction, snapshot_id: int | None) -> None:
    """Make the transaction's commit fail unless main's head is still `snapshot_id` (None: no head).

    Replaced by: a public way to add a requirement to a transaction (pyiceberg 0.12 adds
    `AssertRefSnapshotId` only inside its snapshot producers; `Transaction._stage` is private).

    Args:
        transaction: The transaction.
        snapshot_id: main's head the transaction was planned against.

    Raises:
        CommitFailedException: main has moved already in the transaction's view of the table.
    """
    transaction._stage((), (AssertRefSnapshotId(snapshot_id=snapshot_id, ref=MAIN_BRANCH),))
