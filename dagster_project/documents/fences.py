"""Fenced code blocks in light markdown: which lines are code, so curation and chunking leave them be."""

from __future__ import annotations

import re

TEXT, FENCE, CODE = "text", "fence", "code"
# A fence is 3 or more backticks or tildes; a backtick fence's info string has no backtick (CommonMark).
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")


def line_kinds(lines: list[str]) -> list[str]:
    """Each line's kind: `text`, `fence` (an opening or closing fence line) or `code` (inside one).

    A fence closes on a line of the same character, at least as long, with nothing after it. A fence
    that never closes is taken for text, not code to the end: a stray backtick line in extracted text
    must not hide every heading after it.
    """
    kinds = [TEXT] * len(lines)
    # The shortest mark per character that found no closer: a mark as long finds none either, so a text
    # full of unclosed fences is still read in one pass, not one per fence.
    unclosed: dict[str, int] = {}
    i = 0
    while i < len(lines):
        opener = _FENCE.match(lines[i])
        if not opener or (opener.group(1)[0] == "`" and "`" in opener.group(2)):
            i += 1
            continue
        mark = opener.group(1)
        close = None
        if len(mark) < unclosed.get(mark[0], len(mark) + 1):
            close = next((j for j in range(i + 1, len(lines)) if _closes(lines[j], mark)), None)
        if close is None:
            unclosed[mark[0]] = min(len(mark), unclosed.get(mark[0], len(mark)))
            i += 1  # unclosed: text
            continue
        kinds[i] = kinds[close] = FENCE
        kinds[i + 1 : close] = [CODE] * (close - i - 1)
        i = close + 1
    return kinds


def _closes(line: str, mark: str) -> bool:
    match = _FENCE.match(line)
    if not match or match.group(2).strip():
        return False
    return match.group(1)[0] == mark[0] and len(match.group(1)) >= len(mark)
