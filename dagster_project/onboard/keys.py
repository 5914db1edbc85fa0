"""The primary key of an inferred source: the smallest set of columns unique within every landed file.

The landed values are in DuckDB's table `landed` (as text, with `_file`, the file's number), loaded
by the full pass of `infer.py`.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from dagster_project.ingest.sources import quote
from dagster_project.onboard.inferred import Inferred
from dagster_project.onboard.profile import ColumnProfile

_ID_LIKE = re.compile(r"(^|_)(id|key|code|no|number|num|nr|ref|uuid|line)$")


def _key_rank(profile: ColumnProfile, position: int) -> tuple[int, int, int]:
    kind = profile.type
    type_rank = 0 if kind in ("long", "int") else 1 if kind == "string" else 2
    return (0 if _ID_LIKE.search(profile.name) else 1, type_rank, position)


def primary_key(inferred: Inferred, con: Any) -> list[str]:
    """The smallest set of never-null columns unique within every file (id-like names and integers
    first, never PII), with the dates and timestamps that tell its repeats across files apart.

    Within every file, because a later file repeating a key may be a new version of that row (a
    corrected re-delivery, a daily full export), which staging resolves by keeping the latest. But
    where a key's repeats differ in a date or timestamp they are other events (this month's
    reading of the same meter), and keeping the latest would lose history: that column joins the
    key. When in doubt the key is the wider one: staging then keeps more rows, never fewer; with no
    key at all, every column is the key (staging then drops exact repeats only).
    """
    candidates = [
        (p, i)
        for i, p in enumerate(inferred.columns)
        # Measures, flags and long text are unique by chance, never by design.
        if p.nulls == 0
        and p.count == inferred.rows
        and p.type in ("int", "long", "string", "date", "timestamp", "timestamptz")
        and p.total_length <= 60 * p.count
    ]
    candidates.sort(key=lambda c: _key_rank(*c))
    temporal = [p.name for p, _ in candidates if p.type in ("date", "timestamp", "timestamptz")]
    order = [p.name for p in inferred.columns]
    # Never a person's data: a name unique in these files is unique by chance (the next file brings
    # a second George, and staging would keep one of them), and a key travels to every layer.
    plain = [p.name for p, _ in candidates if not p.pii][:8]
    found = _unique_combinations(inferred, con, plain)
    if not found:
        inferred.notes.append(
            "primary_key: no column, pair or triple of columns is unique within every file and never "
            "null, so every column is the key (a row is identified by all its values; staging drops "
            "exact repeats only, never a row): name the real key if there is one"
        )
        return order
    keys = [_with_event_time(inferred, con, list(combo), temporal) for combo in found]
    key = min(keys, key=len)  # the first of the smallest, in rank order
    return sorted(key, key=order.index)


def _unique_combinations(inferred: Inferred, con: Any, names: list[str]) -> list[tuple[str, ...]]:
    """The smallest combinations of `names` (one, two or three columns) unique within every file."""
    for size in (1, 2, 3):
        combos = list(itertools.combinations(names, size))
        if not combos:
            return []
        counts = con.execute(
            "SELECT "
            + ", ".join(f"count(DISTINCT row(_file, {', '.join(map(quote, combo))}))" for combo in combos)
            + " FROM landed"
        ).fetchone()
        found = [combo for combo, n in zip(combos, counts, strict=True) if n == inferred.rows]
        if found:
            return found
    return []


def _with_event_time(inferred: Inferred, con: Any, key: list[str], temporal: list[str]) -> list[str]:
    """The key plus each date or timestamp column whose value differs among the key's repeats."""
    grouped = ", ".join(map(quote, key))
    differing = [
        column
        for column in temporal
        if column not in key
        and con.execute(
            f"SELECT count(*) FROM (SELECT {grouped} FROM landed GROUP BY {grouped} "
            f"HAVING count(DISTINCT {quote(column)}) > 1)"
        ).fetchone()[0]
    ]
    if differing:
        inferred.notes.append(
            f"primary_key: ({', '.join(key)}) repeats across files with other {', '.join(differing)}, so "
            f"{', '.join(differing)} joined the key (one row per event); if a later file's rows are new "
            "versions of the same rows instead, take them out of primary_key"
        )
    return key + differing
