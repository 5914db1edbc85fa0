"""PII benchmark: recall per kind, precision and false positives on technical pages, against the old regexes.

The labelled set of tests/documents/pii_corpus.py (support tickets and notes with planted PII of
14 kinds at known spans) and tests/documents/pii_technical.py (60 technical documentation pages
with none) go through `find_pii`, and, as the baseline measured in the same run, through a copy of
the regex redactor it replaced. A planted value is found when a finding overlaps it; a finding
that overlaps none is a false positive. Targets: recall >= 0.95 per kind, <= 1 false positive per
100 technical pages. Also times redaction (characters per second). Writes `.data/bench/pii.json`.
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.documents: the labelled set

from dagster_project.documents.pii import find_pii  # noqa: E402
from dagster_project.settings import load_settings  # noqa: E402
from tests.documents.pii_corpus import KINDS, Score, measure, pii_documents  # noqa: E402
from tests.documents.pii_technical import technical_pages  # noqa: E402

# The redactor before issue 16 (dagster_project/documents/curate.py), kept here as the baseline only.
_OLD = {
    "EMAIL": re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    "CARD_NUMBER": re.compile(r"\b(?:\d{4}[ -]?){3}\d{1,7}\b|\b\d{4}[ -]?\d{6}[ -]?\d{5}\b"),
    "NATIONAL_ID": re.compile(
        r"\b\d{3}-\d{2}-\d{4}\b|\b[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b", re.IGNORECASE
    ),
    "PHONE": re.compile(r"(?<![\w+])(?:\+\d{1,3}|\(0\d{1,4}\)|0\d{1,4})(?:[ .-]?\(?\d{2,4}\)?){2,4}(?!\w)"),
}


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def old_spans(text: str) -> list[tuple[int, int]]:
    """Spans the old redactor replaced (applied in its order, on the original text's offsets)."""
    spans: list[tuple[int, int]] = []
    for kind, pattern in _OLD.items():
        for m in pattern.finditer(text):
            digits = re.sub(r"\D", "", m.group(0))
            if kind == "CARD_NUMBER" and not _luhn(digits):
                continue
            if kind == "PHONE" and not 9 <= len(digits) <= 15:
                continue
            if all(m.end() <= s or m.start() >= e for s, e in spans):
                spans.append((m.start(), m.end()))
    return spans


def _table(score: Score) -> dict[str, object]:
    return {
        "kinds": {
            k: {"planted": score.planted[k], "found": score.found[k], "recall": round(score.recall(k), 3)}
            for k in KINDS
        },
        "planted": sum(score.planted.values()),
        "found": sum(score.found.values()),
        "precision": round(score.precision, 3),
        "technical_pages": score.technical_pages,
        "false_positives_per_100_pages": round(score.false_positives_per_100_pages, 2),
        "false_positive_examples": score.examples[:5],
    }


def main() -> int:
    docs, pages = pii_documents(), technical_pages()
    ours = measure(lambda text: [(f.start, f.end) for f in find_pii(text)], docs, pages)
    old = measure(old_spans, docs, pages)
    chars = sum(len(d.text) for d in docs) + sum(len(p) for p in pages)
    start = time.perf_counter()
    for text in [d.text for d in docs] + pages:
        find_pii(text)
    chars_per_s = chars / (time.perf_counter() - start)
    met = all(ours.recall(k) >= 0.95 for k in KINDS) and ours.false_positives_per_100_pages <= 1
    result = {
        "benchmark": "pii",
        "ours": _table(ours),
        "baseline_old_regexes": _table(old),
        "redaction_chars_per_s": round(chars_per_s),
        "targets": {"recall_per_kind": 0.95, "false_positives_per_100_pages": 1},
        "pass": met,
    }
    print(f"{'kind':<18}{'planted':>8}{'found':>7}{'recall':>8}{'old found':>11}{'old recall':>12}")
    for k in KINDS:
        print(
            f"{k:<18}{ours.planted[k]:>8}{ours.found[k]:>7}{ours.recall(k):>8.2f}{old.found[k]:>11}{old.recall(k):>12.2f}"
        )
    for name, s in (("ours", ours), ("old regexes", old)):
        print(
            f"{name}: precision {s.precision:.3f}, false positives per 100 technical pages "
            f"{s.false_positives_per_100_pages:.1f} "
            f"({s.technical_false_positives} on {s.technical_pages} pages)"
        )
    print(f"redaction: {chars_per_s:,.0f} characters/s; targets met: {met}")
    out = load_settings().data_dir / "bench" / "pii.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
