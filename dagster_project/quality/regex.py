"""Regex matching with Python's `re.search` semantics (GX's pandas engine), fast where RE2 agrees.

DuckDB's RE2 and Python's `re` agree on the common syntax over printable ASCII text, but not
everywhere: `\\d`, `\\w`, `\\s` and case folding are Unicode-aware in Python and ASCII in RE2,
Python's `$` also matches before a final newline, and RE2 has no lookaround or backreferences.
So a value outside printable ASCII, or any value when the pattern uses what RE2 lacks or reads
differently, is matched by Python's `re` itself, through a DuckDB function; the rest by RE2.
"""

from __future__ import annotations

import functools
import re
import re._constants as sre  # the parser's own token names
import re._parser as sre_parse

import duckdb
import pyarrow as pa
from duckdb.sqltypes import BOOLEAN, VARCHAR
from sqlglot import exp

FUNCTION = "gx_re_search"
_SAFE_OPS = {
    sre.LITERAL,
    sre.NOT_LITERAL,
    sre.ANY,
    sre.IN,
    sre.RANGE,
    sre.NEGATE,
    sre.CATEGORY,
    sre.BRANCH,
    sre.SUBPATTERN,
    sre.MAX_REPEAT,
    sre.MIN_REPEAT,
    sre.AT,
}
_SAFE_AT = {sre.AT_BEGINNING, sre.AT_END, sre.AT_BEGINNING_STRING, sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY}
_SAFE_FLAGS = re.IGNORECASE | re.DOTALL | re.MULTILINE | re.UNICODE
# Escapes both engines read alike; `\u`, `\N`, octal, `\Z` and the like go to Python.
_SAFE_ESCAPE = re.compile(r"\\[^A-Za-z0-9]|\\[dDwWsSbBAtnrfv]")
# `{,3}` is a repeat in Python and literal text in RE2; POSIX classes exist only in RE2.
_AMBIGUOUS = re.compile(r"(?<!\\)\{(?!\d+(,\d*)?\})|\[:|\[\[")
_NOT_PRINTABLE_ASCII = "[^ -~]"


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _tokens_safe(tokens) -> bool:
    for op, arg in tokens:
        if op not in _SAFE_OPS:
            return False
        if op == sre.AT and arg not in _SAFE_AT:
            return False
        if op == sre.SUBPATTERN:
            _group, add, remove, inner = arg
            if (add | remove) & ~_SAFE_FLAGS or not _tokens_safe(inner):
                return False
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            if not _tokens_safe(arg[2]):
                return False
        elif op == sre.BRANCH:
            if not all(_tokens_safe(branch) for branch in arg[1]):
                return False
    return True


@functools.lru_cache(maxsize=256)
def re2_agrees(pattern: str) -> bool:
    """Whether RE2 reads `pattern` as Python does (on printable ASCII values)."""
    if _AMBIGUOUS.search(pattern):
        return False
    if "\\" in pattern and _SAFE_ESCAPE.sub("", pattern).count("\\"):
        return False
    try:
        parsed = sre_parse.parse(pattern)
    except re.error:
        return False  # Python refuses it too: its error is GX's error
    return not parsed.state.flags & ~_SAFE_FLAGS and _tokens_safe(parsed)


def _search(values: pa.Array, patterns: pa.Array) -> pa.Array:
    return pa.array(
        [
            None if v is None or p is None else _compiled(p).search(v) is not None
            for v, p in zip(values.to_pylist(), patterns.to_pylist(), strict=True)
        ],
        pa.bool_(),
    )


def register(con: duckdb.DuckDBPyConnection) -> None:
    """Make Python's `re.search` callable in `con`'s SQL (once per connection)."""
    known = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [FUNCTION]
    ).fetchone()
    if not known or not known[0]:
        con.create_function(FUNCTION, _search, [VARCHAR, VARCHAR], BOOLEAN, type="arrow")


def search(value: exp.Expression, pattern: str) -> exp.Expression:
    """True where `pattern` is found in `value`, as Python's `re.search` finds it."""
    python = exp.Anonymous(this=FUNCTION, expressions=[value, exp.convert(pattern)])
    if not re2_agrees(pattern):
        return python
    unusual = exp.func("regexp_matches", value, exp.convert(_NOT_PRINTABLE_ASCII))
    re2 = exp.func("regexp_matches", value, exp.convert(pattern))
    return exp.Case(ifs=[exp.If(this=unusual, true=python)], default=re2)
