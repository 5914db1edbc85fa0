"""A suite judged per group of rows (a landed file, a document): a bad group holds back itself, not the batch.

Shared by the raw tables' gate (groups are landed files, `ingest/held_files.py`) and the chunk
gate (groups are documents, `documents/gate.py`). The rule, once:

1. A failed blocking expectation that rejects single rows (not-null, in-set, a `mostly` of 1)
   names its rows, and so their groups: those groups are held.
2. A failed expectation over the whole batch (a `mostly` ratio, a row count) names no row, yet one
   bad group can fail it for a hundred good ones: if it still fails on the rest, it is judged on
   each group's own rows, and the groups that fail it alone are held.
3. Only when the rest still fails as a whole (the failure spread across groups, none failing on
   its own) is the whole batch held, as before groups were judged.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from dagster_project.quality.suites import Expectation

# The rows of the batch an expectation rejects, as {group: (row order, row label)} (the first row
# of each group), restricted to the rows of `only` when given; None when it judges no single row.
Rejected = Callable[[Expectation, "str | None"], "dict[str, tuple[int, Any]] | None"]
# The blocking expectations (all of the suite's when None) that fail on the batch's rows, restricted
# to the groups `only` when given, leaving out the groups `without`.
Failing = Callable[
    ["Sequence[Expectation] | None", "Collection[str] | None", Collection[str]], list[Expectation]
]


@dataclass(frozen=True)
class GroupFailure:
    """Why one group is held back: the blocking expectations it failed, and its first failing row."""

    failed: tuple[str, ...]
    first: Any = None  # the row label `Rejected` gave (None: the failure names no row of it)


def attributable(e: Expectation) -> bool:
    """Whether a failure of `e` is the fault of the rows it rejects (not of a ratio over the batch)."""
    if e.against_table or e.tables_read:
        return False
    mostly = e.kwargs.get("mostly")
    return mostly is None or float(mostly) >= 1.0


def _own_failures(
    expectations: Sequence[Expectation], groups: Sequence[str], rejected: Rejected, failing: Failing
) -> dict[str, GroupFailure]:
    """group -> failure, for the `groups` whose own rows fail `expectations` (each group judged alone)."""
    out: dict[str, GroupFailure] = {}
    for group in groups:
        failed = failing(expectations, [group], ())
        if failed:
            rows = [r[group] for r in (rejected(e, group) for e in failed) if r and group in r]
            out[group] = GroupFailure(tuple(e.name for e in failed), min(rows)[1] if rows else None)
    return out


def judge_groups(
    failed: Sequence[Expectation], groups: Sequence[str], rejected: Rejected, failing: Failing
) -> dict[str, GroupFailure] | None:
    """Decide which groups hold back the blocking expectations that failed on the whole batch.

    Args:
        failed: The blocking expectations that failed on the whole batch (not empty).
        groups: The batch's groups, in the order they are reported.
        rejected: Which rows (and so groups) an expectation rejects.
        failing: Which expectations fail on a part of the batch.

    Returns:
        group -> why, for the groups to hold back (what remains passes the suite); None when the
        batch is to be held back whole (a failure no group is to blame for).
    """
    failures: dict[str, GroupFailure] = {}
    firsts: dict[str, tuple[int, Any]] = {}
    for e in failed:
        if not attributable(e):
            continue
        rows = rejected(e, None)
        if not rows:
            return None  # failed, yet no row to blame: judge the batch as a whole
        for group, first in rows.items():
            names = failures[group].failed if group in failures else ()
            failures[group] = GroupFailure(names + (e.name,) * (e.name not in names))
            firsts[group] = min(first, firsts.get(group, first))
    failures = {g: GroupFailure(f.failed, firsts[g][1]) for g, f in failures.items()}
    whole = [e for e in failed if not attributable(e)]
    if whole and failures:
        # A group held for its rows also names the batch-wide expectations it fails on its own.
        for group, own in _own_failures(whole, list(failures), rejected, failing).items():
            named = failures[group].failed + tuple(n for n in own.failed if n not in failures[group].failed)
            failures[group] = GroupFailure(named, failures[group].first)
    still = failing(None, None, failures)
    if not still:
        return failures
    if any(attributable(e) for e in still):
        return None  # not expected: rows that failed only together
    own = _own_failures(still, [g for g in groups if g not in failures], rejected, failing)
    if not own:
        return None  # spread across groups: hold the batch
    failures.update(own)
    return None if failing(None, None, failures) else failures
