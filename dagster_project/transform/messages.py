"""A dbt error, told in a few lines: the kind of error and the lines under it that say why.

dbt's message for a failing node starts with `Runtime Error in model stg_orders (models/...)`; the
cause (DuckDB's error, the plugin's message) is on the lines after it. dbt quotes SQL, not data,
except in a few DuckDB errors that quote a value (a failed conversion, a duplicate key): those
values are replaced, as row values never go into messages.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^(?P<kind>[A-Z][\w ]*?Error) in (model|test|unit_test|seed|snapshot) \S+")
_VALUES = (
    (re.compile(r"""(Could not (?:convert|cast) (?:string|value) )(['"]).*?\2"""), r"\1<value>"),
    (re.compile(r"""(Duplicate key )(['"]).*?\2"""), r"\1<value>"),
    (re.compile(r"""(value )(['"]).*?\2( (?:is|violates|out of range))"""), r"\1<value>\3"),
)
MAX_LINE = 240


def redact(line: str) -> str:
    for pattern, replacement in _VALUES:
        line = pattern.sub(replacement, line)
    return line if len(line) <= MAX_LINE else line[: MAX_LINE - 1] + "…"


def error_cause(message: str, lines: int = 3) -> str:
    """`Kind: first cause line; second; third` of a dbt node's error message (values redacted).

    Args:
        message: The node's `message` in dbt's run_results.json.
        lines: How many lines of the cause to keep (blank lines, carets and macro traces skipped).
    """
    text = [line.strip() for line in (message or "").splitlines() if line.strip()]
    kind = ""
    if text and (header := _HEADER.match(text[0])):
        kind, text = header["kind"], text[1:]
    cause = [
        redact(line)
        for line in text
        if not set(line) <= set("^~ ") and not line.startswith(("> in ", "> called by"))
    ][:lines]
    if not cause:
        return kind or "dbt gave no message"
    return f"{kind}: {'; '.join(cause)}" if kind else "; ".join(cause)
