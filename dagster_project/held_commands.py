"""`foundation held`, `release` and `discard`: batches and documents the quality gate held back, and the
decision on each (tables: `lakehouse/review.py`; documents: `documents/holds.py`)."""

from __future__ import annotations

import argparse

from dagster_project.settings import Settings
from dagster_project.subcommand import Subcommand


def held_command(settings: Settings, args: argparse.Namespace) -> int:
    """`foundation held`: every batch and document held back, with the commands that decide on it."""
    from dagster_project.documents.holds import DOCUMENTS_TARGET, held_documents
    from dagster_project.status import table_status

    held = table_status(settings)["held_back"]
    documents = held_documents(settings)
    if not held and not documents:
        print("Nothing is held back.")
    for d in documents:
        print(f"{DOCUMENTS_TARGET}  document {d.document_id}  run {d.run_id}")
        print(f"    held back because: {', '.join(d.failed)} failed on chunk {d.chunk_id}")
        for verb in ("release", "discard"):
            print(f"    {verb}: foundation {verb} {DOCUMENTS_TARGET} {d.document_id}")
    for b in held:
        print(f"{b['table']}  {b['branch']}  snapshot {b['snapshot_id']}  run {b['run_id']}")
        if b.get("reason"):
            print(f"    held back because: {b['reason']}")
        for uri, checksum in b["files"]:
            print(f"    {uri}  ({checksum[:12]})")
        print(
            f"    read it: foundation query --as data_engineer --as-of {b['snapshot_id']} "
            f'"select * from {b["table"]} limit 20"'
        )
    return 0


def release_command(settings: Settings, args: argparse.Namespace) -> int:
    """`foundation release TABLE BRANCH`: publish a held batch (or document); `NotHeld` reaches `cli.main`."""
    from dagster_project.documents.holds import DOCUMENTS_TARGET
    from dagster_project.lakehouse.review import release_held

    if args.table == DOCUMENTS_TARGET:
        from dagster_project.documents.review import release_document  # the sync's imports: documents only

        report = release_document(settings, args.branch, via="cli")
        print(f"{args.branch}: released; {report.chunks_added} chunk(s) published")
    else:
        snapshot_id = release_held(settings, args.table, args.branch, via="cli")
        print(f"{args.table}: released {args.branch}; main is now snapshot {snapshot_id}")
    return 0


def discard_command(settings: Settings, args: argparse.Namespace) -> int:
    """`foundation discard TABLE BRANCH`: drop a held batch (or document); `NotHeld` reaches `cli.main`."""
    from dagster_project.documents.holds import DOCUMENTS_TARGET
    from dagster_project.lakehouse.review import discard_held

    if args.table == DOCUMENTS_TARGET:
        from dagster_project.documents.review import discard_document  # the sync's imports: documents only

        discard_document(settings, args.branch, via="cli")
        print(f"{args.branch}: discarded; it stays out of the index until the document changes")
    else:
        cascaded = discard_held(settings, args.table, args.branch, via="cli")
        print(f"{args.table}: discarded {args.branch}; main unchanged")
        for table in cascaded:  # built on the discarded rows: nothing can publish them now
            print(f"{table}: discarded {args.branch} too; it was held because {args.table} was not published")
    return 0


def _decision_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("table", help="e.g. raw.orders, or curated.documents for a held document")
    parser.add_argument(
        "branch", help="the audit branch, e.g. audit-<run id>; for curated.documents the document id"
    )


HELD = Subcommand(
    "held",
    "batches held back by the quality gate, with their branches and files",
    "dagster_project.held_commands:held_command",
)
RELEASE = Subcommand(
    "release",
    "publish a held-back batch (or document) to main",
    "dagster_project.held_commands:release_command",
    _decision_arguments,
)
DISCARD = Subcommand(
    "discard",
    "drop a held-back batch (or document)",
    "dagster_project.held_commands:discard_command",
    _decision_arguments,
)
