"""Where records start in a landed text file, counted the way a person reads it: physical lines.

DuckDB numbers records, not lines: a quoted CSV value spanning lines counts once, a JSON-lines error
says "line n + 1" for the n-th record, and blank lines are skipped or counted depending on the reader.
A message that names a line must name the line an editor shows, so the line of a record is found
here by reading the file again (only for files that were rejected or had rows set apart).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from dagster_project.registry import Dialect

_BLANK = b" \t\r\n"
_CHUNK = 1 << 20
_PROBE = 64 << 10
_RFC_4180 = Dialect()


def record_lines(
    path: Path,
    fmt: str,
    ordinals: Iterable[int],
    *,
    dialect: Dialect = _RFC_4180,
    skip_blank: bool = True,
    count_skipped: bool = False,
) -> dict[int, int]:
    """The physical line on which each wanted record starts.

    Args:
        path: The landed file.
        fmt: `csv` or `jsonl`.
        ordinals: Record numbers from 1 (a CSV file's header is record 1).
        dialect: The registry's CSV dialect: delimiter, quote, escape, rows to skip, comment lines.
        skip_blank: Blank lines are not records (DuckDB skips them in multi-column CSV and in JSON).
        count_skipped: The CSV lines skipped (`skip_rows`) and comment lines count as one record each,
            as DuckDB's error messages count them; else only the header and data rows are records.

    Returns:
        Record number -> line number, for those found; a record the file does not reach (or a CSV
        file Python's reader cannot follow that far) is left out: its line is unknown, never guessed.
    """
    wanted = set(ordinals)
    if not wanted:
        return {}
    if fmt == "jsonl":
        return _json_lines(path, wanted, skip_blank)
    return _csv_lines(path, wanted, dialect, skip_blank, count_skipped)


def _json_lines(path: Path, wanted: set[int], skip_blank: bool) -> dict[int, int]:
    found: dict[int, int] = {}
    last = max(wanted)
    record = 0
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if skip_blank and not line.strip(_BLANK):
                continue
            record += 1
            if record in wanted:
                found[record] = number
            if record >= last:
                break
    return found


def csv_options(dialect: Dialect) -> dict:
    """Python's `csv` reader options for the registry's delimiter, quote and escape."""
    doubled = dialect.escape == dialect.quote  # RFC 4180: a quote inside quotes is written twice
    return {
        "delimiter": dialect.delimiter,
        "quotechar": dialect.quote,
        "escapechar": None if doubled else dialect.escape,
        "doublequote": doubled,
        "strict": True,
    }


class _Physical:
    """The lines of a CSV file for Python's reader, numbered as an editor shows them: the `skip_rows`
    first lines and comment lines are passed over (and noted), and each record's first line is kept."""

    def __init__(self, handle: Iterable[str], dialect: Dialect) -> None:
        self.handle = iter(handle)
        self.dialect = dialect
        self.number = 0  # physical lines read
        self.starts: list[int] = []  # lines given to the reader since the last record
        self.passed: list[int] = []  # skipped and comment lines since the last record

    def __iter__(self) -> _Physical:
        return self

    def __next__(self) -> str:
        while True:
            line = next(self.handle)
            self.number += 1
            comment = self.dialect.comment
            at_record_start = not self.starts
            if self.number <= self.dialect.skip_rows or (
                comment and at_record_start and line.lstrip(" \t").startswith(comment)
            ):
                self.passed.append(self.number)
                continue
            self.starts.append(self.number)
            return line


def _csv_lines(
    path: Path, wanted: set[int], dialect: Dialect, skip_blank: bool, count_skipped: bool
) -> dict[int, int]:
    found: dict[int, int] = {}
    last = max(wanted)
    record = 0

    def note(line: int) -> bool:
        nonlocal record
        record += 1
        if record in wanted:
            found[record] = line
        return record >= last

    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        lines = _Physical(handle, dialect)
        reader = csv.reader(lines, **csv_options(dialect))
        try:
            for row in reader:
                passed, start = lines.passed, lines.starts[0]
                lines.passed, lines.starts = [], []
                if count_skipped and any(note(line) for line in passed):
                    break
                if skip_blank and not row:
                    continue
                if note(start):
                    break
        except csv.Error:
            # Python's reader stops at this record (DuckDB may have too): it starts on the first line
            # the reader took for it; records past it stay unknown.
            if record + 1 in wanted:
                found[record + 1] = lines.starts[0] if lines.starts else lines.number + 1
    return found


def first_line_over(path: Path, limit: int) -> int | None:
    """The number of the first line longer than `limit` bytes (its line break not counted), or None."""
    if path.stat().st_size <= limit:
        return None
    if limit >= _CHUNK:
        return None if _no_line_over(path, limit) else _first_long_line(path, limit)
    number, carry = 1, 0  # carry: bytes of the current line read before this chunk
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            parts = chunk.split(b"\n")
            lengths = [len(part) for part in parts]
            lengths[0] += carry
            complete = lengths[:-1]
            if complete and max(complete) > limit:
                for index, length in enumerate(complete):
                    if length - parts[index].endswith(b"\r") > limit:
                        return number + index
            number += len(complete)
            carry = lengths[-1]
            if carry > limit + 1:  # +1: a '\r' before the '\n' still to come
                return number
    return number if carry > limit else None


def _no_line_over(path: Path, limit: int) -> bool:
    """True when a few small reads prove no line is longer than `limit`; False: it takes a full scan.

    Cut the file into stretches of `limit // 2` bytes: if each whole stretch holds a line break, no
    run of bytes without one is `limit` long (such a run would hold a whole stretch). Lines are
    short, so the break is near each stretch's start: a big file is proven by reading ~1/64 of it.
    """
    stretch = limit // 2
    size = path.stat().st_size
    with open(path, "rb") as handle:
        for start in range(0, size - stretch + 1, stretch):
            handle.seek(start)
            read = 0
            while read < stretch:
                block = handle.read(min(_PROBE, stretch - read))
                if not block:
                    return False
                if b"\n" in block:
                    break
                read += len(block)
            else:
                return False
    return True


def _first_long_line(path: Path, limit: int) -> int | None:
    """`first_line_over` for limits of at least a chunk: a line wholly inside a chunk is shorter than the
    limit, so only lines crossing chunk borders are measured, with C-speed find and count."""
    number, carry = 1, 0  # carry: bytes of the current line read before this chunk
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            first = chunk.find(b"\n")
            if first < 0:
                carry += len(chunk)
                if carry > limit + 1:  # +1: a '\r' before the '\n' still to come
                    return number
                continue
            ending = carry + first - (chunk[first - 1 : first] == b"\r" if first else 0)
            if ending > limit:
                return number
            number += chunk.count(b"\n")
            carry = len(chunk) - chunk.rfind(b"\n") - 1
    return number if carry > limit else None


def first_non_object_line(path: Path) -> int | None:
    """The first line of a JSON-lines file that holds something other than a JSON object."""
    with open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip(_BLANK)
            if text and not text.startswith(b"{"):
                return number
    return None
