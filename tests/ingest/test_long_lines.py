"""FOUNDATION_MAX_RECORD_BYTES on big files: a few reads prove every line short; a long one is still found."""

from __future__ import annotations

import pytest

from dagster_project.ingest.lines import _first_long_line, first_line_over

LIMIT = 1 << 20  # the smallest limit the sampled proof is used for


def _file(tmp_path, lines: list[bytes], end: bytes = b"\n"):
    path = tmp_path / "data.csv"
    path.write_bytes(end.join(lines) + end)
    return path


@pytest.mark.parametrize(
    ("long_at", "length", "expected"),
    [
        (None, 0, None),  # short lines only: proven without a full read
        (2000, LIMIT, None),  # exactly the limit is allowed
        (2000, LIMIT + 1, 2001),  # one byte over, somewhere in the middle
        (0, 3 * LIMIT, 1),  # a line spanning several stretches, first
        (39_999, LIMIT + 7, 40_000),  # the last line
    ],
)
def test_the_first_line_over_the_limit_is_found_whatever_its_place(tmp_path, long_at, length, expected):
    lines = [b"%d,some,short,values" % i for i in range(40_000)]
    if long_at is not None:
        lines[long_at] = b"x" * length
    path = _file(tmp_path, lines)
    assert first_line_over(path, LIMIT) == expected == _first_long_line(path, LIMIT)


def test_lines_ended_by_a_carriage_return_alone_are_one_long_line(tmp_path):
    path = _file(tmp_path, [b"%d,a,b" % i for i in range(400_000)], end=b"\r")
    assert path.stat().st_size > LIMIT and first_line_over(path, LIMIT) == 1
