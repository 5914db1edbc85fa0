"""What goes on a data card: its sections, the column profile table, quality results and computed notes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dagster_project.cards.profile import ColumnProfile, TableProfile

# Thresholds of the notes computed from the profile (the card states each one it applies).
SKEW_SHARE = 0.5  # one category above this share of the non-null values
SPARSE_SHARE = 0.2  # nulls above this share of the rows
FEW_ROWS = 100
SHORT_SPAN_DAYS = 30
# Bookkeeping columns say how a row got here, not what it describes: no notes about them.
BOOKKEEPING = frozenset({"source_file", "ingested_at"})


@dataclass
class Text:
    """A paragraph."""

    text: str


@dataclass
class Bullets:
    """A bulleted list."""

    items: list[str]


@dataclass
class Grid:
    """A table with a header row."""

    headers: list[str]
    rows: list[list[str]]


Block = Text | Bullets | Grid


@dataclass
class Section:
    """A titled part of a card."""

    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Card:
    """A datasheet of one table: facts at the top, then sections, rendered as markdown and HTML."""

    table: str
    one_row: str
    facts: list[tuple[str, str]]
    sections: list[Section]
    snapshot_id: int | None
    rows: int


@dataclass(frozen=True)
class QualityResults:
    """The checks of the publish that produced a snapshot: passed count and failing check names."""

    passed: int
    failed: tuple[str, ...] = ()
    warned: tuple[str, ...] = ()
    source: str = ""

    @classmethod
    def from_checks(cls, results: Iterable[Any], source: str = "") -> QualityResults:
        """From Dagster check results (anything with `check_name`, `passed` and `severity`).

        A failed check of severity WARN is a warning; any other failure is a failure.
        """
        passed, failed, warned = 0, [], []
        for r in results:
            if r.passed:
                passed += 1
            elif str(getattr(r.severity, "value", r.severity)).upper() == "WARN":
                warned.append(r.check_name)
            else:
                failed.append(r.check_name)
        return cls(passed, tuple(sorted(failed)), tuple(sorted(warned)), source)


def first_sentence(text: str) -> str:
    """The first sentence of a description ("One row per order line, ...")."""
    text = " ".join(text.split())
    end = text.find(". ")
    return text if end < 0 else text[: end + 1]


def fmt(value: Any) -> str:
    """A profile value for display: dates as ISO, floats rounded, long strings cut."""
    if value is None:
        return "–"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _share(count: int, total: int) -> str:
    return f"{count / total:.0%}" if total else "–"


def _summary(c: ColumnProfile, profile: TableProfile) -> str:
    present = profile.profiled_rows - c.nulls
    if c.categories:
        shown = ", ".join(f"{fmt(v)} {_share(n, present)}" for v, n in c.categories)
        more = f" (+{c.distinct - len(c.categories)} more)" if (c.distinct or 0) > len(c.categories) else ""
        return shown + more
    if c.kind == "number":
        return f"{fmt(c.minimum)} … {fmt(c.maximum)}, mean {fmt(c.mean)}"
    if c.kind == "temporal":
        return f"{fmt(c.minimum)} … {fmt(c.maximum)}"
    if c.kind == "string" and c.max_length is not None:
        return f"length {c.min_length} … {c.max_length}, mean {fmt(c.mean_length)}"
    if c.kind == "nested" and c.max_length is not None:
        return f"{c.min_length} … {c.max_length} elements (not profiled further)"
    return ""


def profile_section(profile: TableProfile, descriptions: dict[str, str]) -> Section:
    """Per column: type, description, nulls, distinct values and range, categories or lengths."""
    rows = [
        [
            c.name,
            c.type,
            descriptions.get(c.name, ""),
            f"{c.nulls:,} ({_share(c.nulls, profile.profiled_rows)})",
            "–" if c.distinct is None else f"{c.distinct:,}",
            _summary(c, profile),
        ]
        for c in profile.columns
    ]
    scope = (
        f"a uniform sample of {profile.profiled_rows:,} of {profile.rows:,} rows"
        if profile.sampled
        else f"all {profile.rows:,} rows"
    )
    intro = (
        f"Computed on {scope} of snapshot {profile.snapshot_id} in {profile.seconds:.2f} s. "
        "Shares of categories are of the non-null values; strings with many distinct values show "
        "their lengths; vectors and lists show their element counts only."
    )
    headers = ["column", "type", "description", "nulls", "distinct", "values"]
    return Section("Column profile", [Text(intro), Grid(headers, rows)])


def quality_section(quality: QualityResults | None) -> Section:
    """The checks of the publish that produced this snapshot, or "not run"."""
    if quality is None:
        return Section(
            "Latest quality results",
            [Text("Not run: this card was regenerated outside a publish; see the checks in Dagster.")],
        )
    total = quality.passed + len(quality.failed) + len(quality.warned)
    if total == 0:
        return Section(
            "Latest quality results",
            [Text("No checks are declared for this table (add a suite under expectations/ to gate it).")],
        )
    blocks: list[Block] = [
        Text(
            f"{total} check(s) in the publish that produced this snapshot"
            + (f" ({quality.source})" if quality.source else "")
            + f": {quality.passed} passed, {len(quality.failed)} failed, {len(quality.warned)} warned."
        )
    ]
    if quality.failed:
        blocks.append(Bullets([f"failed: {name}" for name in quality.failed]))
    if quality.warned:
        blocks.append(Bullets([f"warned: {name}" for name in quality.warned]))
    return Section("Latest quality results", blocks)


def profile_notes(profile: TableProfile, skip: Iterable[str] = ()) -> list[str]:
    """Limits and bias notes from the profile: skew, sparse or constant columns, few rows, short spans.

    Args:
        profile: The table's profile.
        skip: Columns to say nothing about (keys); bookkeeping columns are always skipped.

    Returns:
        One sentence per finding, most general first.
    """
    notes = []
    if profile.rows == 0:
        return ["The table is empty: nothing can be said about its contents yet."]
    if profile.rows < FEW_ROWS:
        notes.append(f"Only {profile.rows:,} rows (fewer than {FEW_ROWS}): statistics do not generalise.")
    skipped = set(skip) | BOOKKEEPING
    for c in profile.columns:
        if c.name in skipped or c.name.startswith("_"):
            continue
        present = profile.profiled_rows - c.nulls
        if present == 0:
            notes.append(f"`{c.name}` is always null.")
            continue
        if profile.null_share(c) > SPARSE_SHARE:
            notes.append(
                f"`{c.name}` is null in {_share(c.nulls, profile.profiled_rows)} of rows "
                f"(more than {SPARSE_SHARE:.0%}): treat it as optional."
            )
        if c.distinct == 1 and present > 1:
            value = f" ({fmt(c.categories[0][0])})" if c.categories else ""
            notes.append(f"`{c.name}` holds a single value{value}: it carries no information here.")
            continue
        if c.categories and len(c.categories) > 1:
            value, count = c.categories[0]
            if count / present > SKEW_SHARE:
                notes.append(
                    f"Skewed: `{c.name}` = {fmt(value)} in {_share(count, present)} of rows "
                    f"({count:,} of {present:,}); the other {c.distinct - 1} value(s) are "
                    "under-represented for training or evaluation."
                )
        if c.kind == "temporal" and c.minimum is not None and c.maximum is not None:
            days = (c.maximum - c.minimum).total_seconds() / 86400
            if days < SHORT_SPAN_DAYS:
                notes.append(
                    f"`{c.name}` spans only {days:.0f} day(s) ({fmt(c.minimum)} … {fmt(c.maximum)}, "
                    f"less than {SHORT_SPAN_DAYS}): seasonality and trends are not represented."
                )
    if profile.sampled:
        notes.append(f"Profiled on a sample of {profile.profiled_rows:,} rows: rare values can be missed.")
    return notes


def limits_section(computed: list[str], declared: list[str]) -> Section:
    """Known limits: the ones declared by the owner, then those computed from the data."""
    blocks: list[Block] = []
    if declared:
        blocks += [Text("Declared by the owner:"), Bullets(declared)]
    blocks += [
        Text("Computed from this snapshot:"),
        Bullets(computed) if computed else Text("Nothing notable: no skewed, sparse or constant column."),
    ]
    return Section("Known limits and bias notes", blocks)
