"""Curation of extracted text: normalisation, PII redaction with typed placeholders, quality heuristics."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

# Lines that are page furniture wherever they appear.
_BOILERPLATE = [
    re.compile(r"^\s*page \d+( of \d+)?\s*$", re.IGNORECASE),
    re.compile(r"^\s*(©|&copy;|\(c\)|copyright)\s.*all rights reserved\.?\s*$", re.IGNORECASE),
    re.compile(r"^\s*(\* \* \*|-{3,}|_{3,}|={3,})\s*$"),
]
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# 13-19 digits in groups of 4 (or 4-6-5 for Amex), checked with Luhn below.
_CARD = re.compile(r"\b(?:\d{4}[ -]?){3}\d{1,7}\b|\b\d{4}[ -]?\d{6}[ -]?\d{5}\b")
# US SSN, UK National Insurance number, and generic 9-11 digit ids written with separators.
_NATIONAL_ID = re.compile(
    r"\b\d{3}-\d{2}-\d{4}\b|\b[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", re.IGNORECASE
)
# International (+44 20 7946 0000) or national trunk-prefixed (020 7946 0000, (020) 7946-0000) numbers.
_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}|\(0\d{1,4}\)|0\d{1,4})(?:[ .-]?\(?\d{2,4}\)?){2,4}(?!\w)")
PII_PATTERNS: dict[str, re.Pattern[str]] = {
    "EMAIL": _EMAIL,
    "CARD_NUMBER": _CARD,
    "NATIONAL_ID": _NATIONAL_ID,
    "PHONE": _PHONE,
}
# For the gate (RE2 syntax, as DuckDB runs it): what must never reach a chunk.
RESIDUAL_PII_REGEX = (
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z]{2,}|\b\d{3}-\d{2}-\d{4}\b|\+\d{1,3}[ .-]?\d{2,4}[ .-]?\d{3,4}"
)


@dataclass(frozen=True)
class QualityThresholds:
    """Heuristic filters: a document failing one is kept out of the index, with the reason recorded."""

    min_words: int = 20
    min_alpha_ratio: float = 0.6  # letters and spaces over all characters
    max_repeated_line_ratio: float = 0.5  # lines that repeat an earlier line


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


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


def redact(text: str) -> tuple[str, dict[str, int]]:
    """Replace emails, card numbers, national-id-like numbers and phone numbers by `[TYPE]`.

    Returns:
        The redacted text and a count per placeholder type (types with no match are left out).
    """
    counts: dict[str, int] = {}
    for kind, pattern in PII_PATTERNS.items():

        def replace(match: re.Match[str], kind: str = kind) -> str:
            value = match.group(0)
            if kind == "CARD_NUMBER" and not _luhn(re.sub(r"\D", "", value)):
                return value
            if kind == "PHONE" and not 9 <= len(re.sub(r"\D", "", value)) <= 15:
                return value
            counts[kind] = counts.get(kind, 0) + 1
            return f"[{kind}]"

        text = pattern.sub(replace, text)
    return text, counts


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
