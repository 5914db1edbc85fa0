"""The `foundation` command: the headless demo, sample data, governed queries, data cards."""

from __future__ import annotations

import argparse
import os
import sys

from dagster_project.cards.commands import CARDS
from dagster_project.catalog_commands import CATALOG
from dagster_project.demo.commands import DEMO, GENERATE
from dagster_project.docs_site.commands import DOCS
from dagster_project.governance.commands import HISTORY, QUERY, SEARCH
from dagster_project.held_commands import DISCARD, HELD, RELEASE
from dagster_project.ingest_commands import INGEST
from dagster_project.maintain_commands import MAINTAIN
from dagster_project.onboard.commands import SOURCES
from dagster_project.rebuild_commands import REBUILD, RETRY
from dagster_project.settings import load_settings
from dagster_project.status import STATUS
from dagster_project.subcommand import Subcommand

# Every verb, in the order `foundation --help` lists them; each is declared in the module of its
# concern, which names the function that runs it (imported only when it runs).
SUBCOMMANDS: tuple[Subcommand, ...] = (
    STATUS,
    DEMO,
    INGEST,
    GENERATE,
    HELD,
    SEARCH,
    CARDS,
    QUERY,
    HISTORY,
    MAINTAIN,
    CATALOG,
    REBUILD,
    RETRY,
    SOURCES,
    DOCS,
    RELEASE,
    DISCARD,
)


def main(argv: list[str] | None = None) -> int:
    """The `foundation` command: a user's mistake or a failing service prints one line, never a traceback.

    Exit codes: 0 done, 1 done with failures (e.g. a run failed), 2 a user error (the message says
    what to fix), 3 the environment failed (disk, catalog, store: retry once it is back) or, for
    `query` and `search`, the policy denied it. Every user error of every verb is a `FoundationError`,
    printed here, in one place, as `<kind>: <message>` with its `exit_code` (errors.py).
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
        return _fail(f"{exc.kind}: {exc}", exc.exit_code)
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


def parser() -> argparse.ArgumentParser:
    """The `foundation` parser: one subparser per entry of `SUBCOMMANDS`."""
    foundation = argparse.ArgumentParser(prog="foundation", description=__doc__)
    verbs = foundation.add_subparsers(dest="command", required=True)
    for subcommand in SUBCOMMANDS:
        verb = verbs.add_parser(subcommand.name, help=subcommand.help)
        if subcommand.arguments:
            subcommand.arguments(verb)
    return foundation


def _main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings()
    handler = {s.name: s for s in SUBCOMMANDS}[args.command].load_handler()
    return handler(settings, args)
