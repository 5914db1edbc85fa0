"""Curation of extracted text: normalisation, PII redaction with typed placeholders, quality heuristics."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from dagster_project.documents.fences import CODE, TEXT, line_kinds
from dagster_project.documents.pii import PiiOptions, redact_pii

# Lines that are page furniture wherever they appear.
_BOILERPLATE = [
    re.compile(r"^\s*page \d+( of \d+)?\s*$", re.IGNORECASE),
    re.compile(r"^\s*(©|&copy;|\(c\)|copyright)\s.*all rights reserved\.?\s*$", re.IGNORECASE),
    re.compile(r"^\s*(\* \* \*|-{3,}|_{3,}|={3,})\s*$"),
]

# Running headers and footers: looked for among a page's first and last lines, short ones only.
_RUNNING_EDGE = 3
_RUNNING_MAX = 120


@dataclass(frozen=True)
class QualityThresholds:
    """Heuristic filters: a document failing one is kept out of the index, with the reason recorded."""

    min_words: int = 20
    min_alpha_ratio: float = 0.6  # letters and spaces over all characters
    max_repeated_line_ratio: float = 0.5  # lines that repeat an earlier line


def normalise(text: str) -> tuple[str, int]:
    """Unicode NFKC, tidy whitespace, and remove boilerplate lines.

    Boilerplate is page furniture (`Page 1 of 2`, copyright lines, rules) and, in paginated text
    (pages separated by form feeds, as PDF extraction leaves them), running headers and footers:
    lines at the top or bottom of at least half of the pages. Lines inside fenced code blocks are
    never removed and keep their indentation; elsewhere a line's spaces are collapsed.

    Returns:
        The normalised text (form feeds gone, pages separated by a blank line) and how many
        boilerplate lines were removed.
    """
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    pages = [page.split("\n") for page in text.split("\f")]
    flat = [line for page in pages for line in page]
    kinds = iter(line_kinds(flat))
    # (line, kind) per page; code keeps its indentation, only trailing whitespace goes.
    tidy = [
        [
            (line.rstrip(), kind) if kind == CODE else (re.sub(r"[ \t\u00a0]+", " ", line).strip(), kind)
            for line, kind in zip(page, kinds, strict=False)
        ]
        for page in pages
    ]
    running = _running_lines(tidy)
    kept: list[str] = []
    removed = 0
    for number, page in enumerate(tidy):
        if number and kept and kept[-1]:
            kept.append("")  # a page break reads as a paragraph break; the form feed goes
        for index, (line, kind) in enumerate(page):
            furniture = (number, index) in running or any(p.match(line) for p in _BOILERPLATE)
            if kind == TEXT and line and furniture:
                removed += 1
                continue
            if kind != CODE and not line and (not kept or not kept[-1]):
                continue  # one blank line between blocks, none at the start; code keeps its own
            kept.append(line)
    return "\n".join(kept).strip(), removed


def _running_lines(pages: list[list[tuple[str, str]]]) -> set[tuple[int, int]]:
    """(page, line) of running headers and footers: the same line (digits aside, for page numbers)
    among the first or last few lines of at least half of the pages, and of two at least."""
    edges: dict[str, list[tuple[int, int]]] = {}
    with_text = 0  # a trailing form feed makes an empty page, which has no header to count
    for number, page in enumerate(pages):
        text = [i for i, (line, kind) in enumerate(page) if kind == TEXT and line]
        with_text += bool(text)
        for index in dict.fromkeys(text[:_RUNNING_EDGE] + text[-_RUNNING_EDGE:]):
            line = page[index][0]
            if len(line) <= _RUNNING_MAX:
                # Page numbers differ from page to page; a heading's number ("Chapter 3") is its own.
                key = line if line.startswith("#") else re.sub(r"\d+", "0", line)
                edges.setdefault(key, []).append((number, index))
    if with_text < 2:
        return set()
    needed = max(2, (with_text + 1) // 2)
    return {at for spots in edges.values() if len({n for n, _ in spots}) >= needed for at in spots}


def redact(text: str, options: PiiOptions | None = None) -> tuple[str, dict[str, int]]:
    """Replace emails, phone numbers, card numbers, IBANs and national ids by `[KIND]` placeholders.

    The detectors are in `documents/pii.py` (validated by `phonenumbers` and `python-stdnum`).

    Args:
        text: Normalised document text.
        options: How national-format phone numbers are read (documents.yml `pii:`).

    Returns:
        The redacted text and a count per placeholder kind (kinds with no match are left out).
    """
    return redact_pii(text, options)


def quality_issues(text: str, thresholds: QualityThresholds) -> list[str]:
    """Why a document is unfit for retrieval: `too_short`, `mostly_non_text`, `repeated_lines`."""
    issues = []
    words = sum(1 for _ in re.finditer(r"\w+", text))  # counted, not listed: a big text has millions
    if words < thresholds.min_words:
        issues.append(f"too_short: {words} words < {thresholds.min_words}")
    body = re.sub(r"\s", "", text)
    if body:
        alpha = sum(ch.isalpha() for ch in body) / len(body)
        if alpha < thresholds.min_alpha_ratio:
            issues.append(f"mostly_non_text: {alpha:.0%} letters < {thresholds.min_alpha_ratio:.0%}")
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) >= 4:
        repeats = len(lines) - len(set(lines))
        ratio = repeats / len(lines)
        if ratio > thresholds.max_repeated_line_ratio:
            issues.append(
                f"repeated_lines: {ratio:.0%} of lines repeat > {thresholds.max_repeated_line_ratio:.0%}"
            )
    return issues
