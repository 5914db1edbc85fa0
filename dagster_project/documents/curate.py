"""Curation of extracted text: normalisation, PII redaction with typed placeholders, quality heuristics."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

from dagster_project.documents.pii import PiiOptions, redact_pii

# Lines that are page furniture wherever they appear.
_BOILERPLATE = [
    re.compile(r"^\s*page \d+( of \d+)?\s*$", re.IGNORECASE),
    re.compile(r"^\s*(©|&copy;|\(c\)|copyright)\s.*all rights reserved\.?\s*$", re.IGNORECASE),
    re.compile(r"^\s*(\* \* \*|-{3,}|_{3,}|={3,})\s*$"),
]


@dataclass(frozen=True)
class QualityThresholds:
    """Heuristic filters: a document failing one is kept out of the index, with the reason recorded."""

    min_words: int = 20
    min_alpha_ratio: float = 0.6  # letters and spaces over all characters
    max_repeated_line_ratio: float = 0.5  # lines that repeat an earlier line


def normalise(text: str) -> tuple[str, int]:
    """Unicode NFKC, tidy whitespace, and remove boilerplate lines.

    Boilerplate is page furniture (`Page 1 of 2`, copyright lines, rules) and, in documents of
    several pages, short lines that repeat on most pages (running headers and footers).

    Returns:
        The normalised text and how many boilerplate lines were removed.
    """
    text = unicodedata.normalize("NFKC", text).replace("\r\n", "\n").replace("\r", "\n")
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n")]
    counts = Counter(line for line in lines if line and not line.startswith("#"))
    repeated = {line for line, n in counts.items() if n >= 3 and len(line) < 80}
    kept: list[str] = []
    removed = 0
    for line in lines:
        if line and (line in repeated or any(p.match(line) for p in _BOILERPLATE)):
            removed += 1
            continue
        if not line and (not kept or not kept[-1]):
            continue  # one blank line between blocks, none at the start
        kept.append(line)
    return "\n".join(kept).strip(), removed


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
