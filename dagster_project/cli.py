"""The `foundation` command: the headless demo, sample data, governed queries, data cards."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from dagster_project.demo.tour import show_governance
from dagster_project.docs_site.commands import docs_arguments, docs_command
from dagster_project.governance.commands import (
    cards_command,
    history_command,
    maintain_command,
    query_command,
)
from dagster_project.landing.names import label
from dagster_project.onboard.cli import add_arguments as sources_arguments
from dagster_project.onboard.cli import sources_command
from dagster_project.settings import Settings, load_settings
from dagster_project.status import print_status, table_status


def sync_sample_data(settings: Settings, seed: int, scale: float, out: str | None = None) -> list[str]:
    """Write the sample landing data, only files that changed (unchanged files keep their mtime).

    Args:
        settings: The landing zone to write to (a local folder or S3).
        seed: Generator seed; the same seed gives the same bytes.
        scale: Row-count multiplier.
        out: Another landing zone to write to: a local folder or an s3:// URI.

    Returns:
        The landing keys written.
    """
    from dagster_project.demo.sample_data.generator import generate
    from dagster_project.landing.store import open_landing

    if out:
        uri = out if "://" in out else Path(out).resolve().as_uri()
        settings = Settings(**{**settings.__dict__, "landing_uri": uri.rstrip("/")})
    landing = open_landing(settings)
    changed = []
    with tempfile.TemporaryDirectory() as tmp:
        for generated in generate(Path(tmp), seed=seed, scale=scale):
            key = generated.path.relative_to(tmp).as_posix()
            if landing.put_if_changed(key, generated.path):
                changed.append(key)
    return changed


def run_demo(settings: Settings, seed: int = 42) -> int:
    """Generate sample data, then ingest each new file in its own run, as the landing sensors would.

    Runs go to the Dagster instance in DAGSTER_HOME, so `make dev` shows them afterwards.
    """
    import dagster as dg

    from dagster_project.catch_up import catch_up, run_models
    from dagster_project.ingest_command import outcome_line, print_models, summary_line
    from dagster_project.onboard.dbt_sources import refresh_manifest

    changed = sync_sample_data(settings, seed=seed, scale=1.0)
    print(f"sample data: {len(changed)} new or changed file(s) in {settings.landing_uri}")
    if refresh_manifest(settings.sources_file):
        print("dbt project parsed again (the registry or a model changed since the last parse)")
    settings.dagster_home_dir.mkdir(parents=True, exist_ok=True)
    instance = dg.DagsterInstance.from_config(str(settings.dagster_home_dir))
    outcomes = catch_up(settings, instance)
    print(f"{len(outcomes)} file version(s) to ingest, one run each (registry order)\n")
    for o in outcomes:
        print(outcome_line(settings, o))
    print(summary_line(outcomes))
    print("\nstaging and curated models (dbt, one run; only what changed is written):")
    build = run_models(settings, instance)
    print_models(settings, build, sys.stdout)
    built = build.success
    from dagster_project.documents.catch_up import run_documents

    print()
    documents_ok = run_documents(settings, instance)
    print()
    print_status(table_status(settings))
    held = [o for o in outcomes if o.held_back]
    for o in held:
        print(f"\n{label(o.key)} was held back on {o.audit_branch}; failed expectations:")
        print("  " + o.failed_expectations.replace("\n", "\n  "))
    if held:
        print("Inspect, release or discard: foundation held | release TABLE BRANCH | discard TABLE BRANCH")
    show_governance(settings)
    served = "served by make dev or foundation docs serve"
    print(f"\nData Docs: {settings.docs_base_url}/data_docs/<table>/latest.html ({served})")
    print(
        'Search the documents: foundation search --as support_agent "how do I return an item?" -k 5 '
        "[--where key=value]"
    )
    return 1 if any(o.failed for o in outcomes) or not built or not documents_ok else 0


def _search_command(settings: Settings, args: argparse.Namespace) -> int:
    # Only what a search needs is imported: a cold `foundation search` is one process per question.
    from dagster_project.documents.index import SearchError, parse_where
    from dagster_project.governance.policy import QueryDenied
    from dagster_project.governance.search import search_as

    try:
        hits = search_as(settings, args.persona, args.question, k=args.k, where=parse_where(args.where or []))
    except QueryDenied as exc:  # as `foundation query`: denied by the policy, exit 3
        print(f"denied: {exc}", file=sys.stderr)
        return 3
    except SearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([_hit_json(h) for h in hits], indent=2))
        return 0
    if not hits:
        print("No matching chunks (check the --where filters).")
    for rank, hit in enumerate(hits, start=1):
        print(f"{rank}. [{hit.score:.3f}] {hit.citation}")
        print("   " + " ".join(hit.text.split())[:300])
    return 0


def _hit_json(hit) -> dict:  # noqa: ANN001 - a SearchHit
    """A hit as JSON, without the fields the persona may not see (`withheld` names them)."""
    out = {k: v for k, v in asdict(hit).items() if k not in hit.withheld and k != "withheld"}
    out["citation"] = {k: v for k, v in out["citation"].items() if k not in hit.withheld}
    if hit.withheld:
        out["withheld"] = list(hit.withheld)
    return out


def _held_command(settings: Settings, args: argparse.Namespace) -> int:
    from dagster_project.lakehouse.review import NotHeld, discard_held, release_held

    if args.command == "held":
        from dagster_project.documents.holds import DOCUMENTS_TARGET, held_documents

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
    if args.table == "curated.documents":
        return _held_document_command(settings, args)
    try:
        if args.command == "release":
            snapshot_id = release_held(settings, args.table, args.branch, via="cli")
            print(f"{args.table}: released {args.branch}; main is now snapshot {snapshot_id}")
        else:
            discard_held(settings, args.table, args.branch, via="cli")
            print(f"{args.table}: discarded {args.branch}; main unchanged")
    except NotHeld as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _held_document_command(settings: Settings, args: argparse.Namespace) -> int:
    """`foundation release|discard curated.documents DOCUMENT`: a document held back by its chunks."""
    from dagster_project.documents.holds import discard_document, release_document
    from dagster_project.lakehouse.review import NotHeld

    try:
        if args.command == "release":
            report = release_document(settings, args.branch, via="cli")
            print(f"{args.branch}: released; {report.chunks_added} chunk(s) published")
        else:
            discard_document(settings, args.branch, via="cli")
            print(f"{args.branch}: discarded; it stays out of the index until the document changes")
    except NotHeld as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive whole number")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    """The `foundation` command: a user's mistake or a failing service prints one line, never a traceback.

    Exit codes: 0 done, 1 done with failures (e.g. a run failed), 2 a user error (the message says
    what to fix), 3 the environment failed (disk, catalog, store: retry once it is back).
    """
    if argv is None and sys.argv[1:2] in SHORT_LIVED:
        return _short_lived(_guarded, argv)
    return _guarded(argv)


# Commands that read, answer and exit: their cost is almost all imports (see `_short_lived`).
SHORT_LIVED = (["search"], ["status"], ["held"], ["history"])


def _short_lived(run, argv: list[str] | None) -> int:  # noqa: ANN001 - the command to run
    """Run a one-question process without the cyclic garbage collector.

    A cold `foundation search` creates about 250,000 tracked objects while importing lancedb and
    pyiceberg (pydantic schemas mostly); the collector walked them some 600 times during the
    imports (collecting almost nothing) and once more at exit: about 40% of the command's CPU
    time. `foundation status`, `held` and `history` import pyiceberg, SQLAlchemy and pyarrow: the
    same 40%. Nothing of these short processes needs collecting (what they read is freed by
    reference counting), so it is off, and what exists at the end is frozen (left out of the walk
    at exit).
    Only for the real command line (`argv is None`): callers in a long-lived process keep theirs.
    """
    import gc

    gc.disable()
    try:
        return run(argv)
    finally:
        gc.freeze()


def _guarded(argv: list[str] | None) -> int:
    from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

    from dagster_project.errors import EnvironmentFailure, FoundationError

    try:
        return _main(argv)
    except FoundationError as exc:
        return _fail(f"error: {exc}", 2)
    except (NoSuchTableError, NoSuchNamespaceError) as exc:
        return _fail(f"error: {exc}; `foundation status` lists the tables", 2)
    except EnvironmentFailure as exc:
        return _fail(f"error: {exc}", 3)
    except BrokenPipeError:  # before OSError: it is one
        # The reader went away (`foundation status | head`): stop quietly, as other Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:  # the machine: a folder that cannot be made, a full disk, a permission
        return _fail(f"error: {exc.strerror or exc}: {exc.filename or ''} (check the path and the disk)", 3)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="foundation", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser(
        "status", help="every Iceberg table with rows and snapshots, and the quarantine log"
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    demo = commands.add_parser("demo", help="generate sample data and run the pipeline headless")
    demo.add_argument("--seed", type=int, default=42)
    ingest = commands.add_parser(
        "ingest", help="ingest what has landed (no sample data), then build the models it feeds"
    )
    ingest.add_argument("datasets", nargs="*", metavar="DATASET", help="registry datasets (default: all)")
    ingest.add_argument("--raw-only", action="store_true", help="stop after the raw tables (no dbt)")
    ingest.add_argument(
        "--retry-quarantined", action="store_true", help="try again files quarantined before (after a fix)"
    )
    generate = commands.add_parser("generate", help="write the sample landing data")
    generate.add_argument(
        "--out",
        help="write to this landing zone instead: a folder or s3://bucket/prefix",
    )
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--scale", type=_positive, default=1.0, help="multiply row counts (> 0)")
    commands.add_parser("held", help="batches held back by the quality gate, with their branches and files")
    search = commands.add_parser("search", help="retrieve document chunks with citations")
    search.add_argument("question", help="free text, e.g. 'how do I return an item?'")
    search.add_argument("-k", type=int, default=5, help="how many chunks (default 5)")
    search.add_argument(
        "--where", action="append", metavar="KEY=VALUE", help="filter: sidecar attribute, path or media_type"
    )
    search.add_argument("--json", action="store_true", help="machine-readable output")
    search.add_argument(
        "--as", dest="persona", required=True, help="persona from the personas file (its search policy)"
    )
    cards = commands.add_parser("cards", help="regenerate the data cards from the current tables")
    cards.add_argument(
        "--table", action="append", metavar="TABLE", help="only this table, e.g. curated.orders (repeatable)"
    )
    query = commands.add_parser("query", help="run one SELECT as a persona (policies, masks, audit log)")
    query.add_argument("sql", help='one SELECT, e.g. "select count(*) from curated.orders"')
    query.add_argument("--as", dest="persona", required=True, help="persona from the personas file")
    query.add_argument("--as-of", help="snapshot id, or ISO timestamp (each table as it was then)")
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.add_argument(
        "--max-rows", type=_positive_int, default=1000, help="print at most N rows (default 1000)"
    )
    history = commands.add_parser("history", help="a table's snapshots with run ids and source files")
    history.add_argument("table", help="e.g. raw.orders")
    history.add_argument("--limit", type=int, help="newest N snapshots of main")
    history.add_argument("--json", action="store_true", help="machine-readable output")
    maintain = commands.add_parser(
        "maintain", help="compact, expire snapshots, remove orphan files now (what the schedule runs)"
    )
    maintain.add_argument(
        "operation",
        nargs="?",
        default="all",
        choices=("all", "compact", "expire_snapshots", "remove_orphan_files"),
        help="one operation, or all three in order (default)",
    )
    maintain.add_argument("--table", action="append", metavar="TABLE", help="only this table (repeatable)")
    maintain.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
    catalog = commands.add_parser(
        "catalog", help="check the Iceberg catalog, or rebuild it from the warehouse"
    )
    catalog_verbs = catalog.add_subparsers(dest="catalog_command", required=True)
    catalog_verbs.add_parser("check", help="every table's current metadata loads; tables missing from it")
    recover = catalog_verbs.add_parser(
        "recover", help="register the warehouse's tables from their newest readable metadata file"
    )
    recover.add_argument("--table", action="append", metavar="TABLE", help="only this table (repeatable)")
    recover.add_argument(
        "--metadata", metavar="FILE", help="with one --table: point it at this metadata file"
    )
    recover.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    rebuild = commands.add_parser(
        "rebuild", help="re-ingest a raw table from the landing zone in the registry's types, swap it in"
    )
    rebuild.add_argument("table", help="e.g. raw.orders")
    retry = commands.add_parser(
        "retry", help="ingest a dataset's quarantined files again (after a registry fix)"
    )
    retry.add_argument("dataset", help="e.g. orders")
    sources_arguments(commands)
    docs_arguments(commands)
    for verb, text in (
        ("release", "publish a held-back batch (or document) to main"),
        ("discard", "drop a held-back batch (or document)"),
    ):
        command = commands.add_parser(verb, help=text)
        command.add_argument("table", help="e.g. raw.orders, or curated.documents for a held document")
        command.add_argument(
            "branch", help="the audit branch, e.g. audit-<run id>; for curated.documents the document id"
        )
    args = parser.parse_args(argv)

    settings = load_settings()
    if args.command == "status":
        result = table_status(settings)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print_status(result)
        return 1 if result["broken"] else 0
    if args.command == "catalog":
        from dagster_project.catalog_commands import catalog_command

        return catalog_command(settings, args)
    if args.command == "demo":
        return run_demo(settings, seed=args.seed)
    if args.command == "ingest":
        from dagster_project.ingest_command import ingest_command

        return ingest_command(
            settings, args.datasets, raw_only=args.raw_only, retry_quarantined=args.retry_quarantined
        )
    if args.command == "search":
        return _search_command(settings, args)
    if args.command == "cards":
        return cards_command(settings, args)
    if args.command == "query":
        return query_command(settings, args)
    if args.command == "maintain":
        return maintain_command(settings, args)
    if args.command == "history":
        return history_command(settings, args)
    if args.command in ("rebuild", "retry"):
        from dagster_project.rebuild_commands import rebuild_command, retry_command

        return (rebuild_command if args.command == "rebuild" else retry_command)(settings, args)
    if args.command == "sources":
        return sources_command(settings, args)
    if args.command == "docs":
        return docs_command(settings, args)
    if args.command in ("held", "release", "discard"):
        return _held_command(settings, args)
    changed = sync_sample_data(settings, seed=args.seed, scale=args.scale, out=args.out)
    print(f"{len(changed)} new or changed file(s) in {args.out or settings.landing_uri}")
    return 0
