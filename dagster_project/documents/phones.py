"""Phone numbers in document text, read by libphonenumber, and the context-word helpers of `pii.py`.

libphonenumber's `PhoneNumberMatcher` scans a whole text with a costly pattern (about 200,000
characters per CPU second on technical text, once per region). Here one cheap pattern finds the
runs of 7 digits or more (with the separators phone numbers are written with) once, for this
module and the national ids; runs whose shape or place rules them out (an IPv4 address, a date,
a decimal among numbers, a part of a word, a code literal) go no further, and the matcher reads
only a short window around the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

_CONTEXT_WINDOW = 48  # characters before a value searched for its context word


def context_pattern(words: str) -> re.Pattern[str]:
    """A case-insensitive pattern for any of `words` (a regex alternation) as whole words."""
    return re.compile(r"(?<!\w)(?:" + words + r")(?!\w)", re.IGNORECASE)


def has_context(text: str, start: int, pattern: re.Pattern[str], window: int = _CONTEXT_WINDOW) -> bool:
    """Whether `pattern` occurs in the `window` characters before `start` (a value's context word)."""
    return bool(pattern.search(text, max(0, start - window), start))


def digits(value: str) -> str:
    """The digits of `value`."""
    return re.sub(r"\D", "", value)


# A phone number written as bare digits is a phone number only when the text says so; with
# separators, a `+` or parentheses it is one by its shape.
# Words that say a phone number follows, whatever its grouping, when they stand just before it
# (`call 07911 12 34 56`, `Tel: 020 79 46 03 21`; not "telephone quality 11025 speech recording
# 22050 44100"); "number" does not ("the number of samples: 1 2 3 …").
_PHONE_WORD_WINDOW = 16
_PHONE_WORD = context_pattern(r"phone|tel|telephone|mobile|cell|call(?:ed)?|ring|rang|fax|whatsapp|sms|dial")
_PHONE_CONTEXT = context_pattern(
    r"phone|tel|telephone|mobile|mob|cell|call(?:ed)?|ring|rang|text|sms|whatsapp|fax|landline|"
    r"number|no\.|reach|contact|dial|tel\.|ph"
)
# This pattern proposes the same digit runs (its separators: dashes, spaces, dots, slashes,
# brackets, tildes, at most four in a row) in one cheap pass; the matcher then reads only a short
# window around each run that passes the checks below, so most of a technical text never reaches it.
# Two spaces in a row end a run (libphonenumber allows four): nobody types a phone number so, while
# columns of numbers in tables and program output are laid out that way.
_PHONE_SEPARATORS = (
    "-x\u2010-\u2015\u2212\u30fc\uff0d-\uff0f\u00ad\u200b\u2060()\uff08\uff09\uff3b\uff3d"
    ".\\[\\]/~\u2053\u223c\uff5e"
)
_PHONE_SEPARATOR = rf"(?:[{_PHONE_SEPARATORS}]|[ \u00a0\u3000](?![ \u00a0\u3000]))"
# At least 7 digits: the shortest valid numbers (+683 4002, Niue) have 7 with the country code.
_PHONE_RUN = re.compile(rf"[+\uff0b(\uff08]?\d(?:{_PHONE_SEPARATOR}{{0,4}}\d){{6,}}")
# No phone number has more than 17 digits (E.164's 15, a trunk `(0)`, an `00` prefix): a longer
# run is two numbers (`020 7946 0321 / 07911 123456`, split where a slash or spaced dash stands)
# or a sequence of numbers (`47037170 1852336614 3961845948`), which is none.
_MIN_PHONE_DIGITS, _MAX_PHONE_DIGITS = 7, 17
_NUMBER_BREAK = re.compile(r"\s*/\s*|\s+[-\u2010-\u2015]\s+")


def digit_runs(text: str) -> list[re.Match[str]]:
    """The runs of 7 digits or more, found once for the phone and national id detectors."""
    return list(_PHONE_RUN.finditer(text))


def _phone_runs(runs: list[re.Match[str]]) -> Iterator[tuple[int, str]]:
    for run in runs:
        raw = run.group()
        if sum(c.isdigit() for c in raw) <= _MAX_PHONE_DIGITS:
            yield run.start(), raw
            continue
        position = 0
        for brk in [*_NUMBER_BREAK.finditer(raw), None]:
            piece = raw[position : brk.start() if brk else len(raw)]
            if _MIN_PHONE_DIGITS <= sum(c.isdigit() for c in piece) <= _MAX_PHONE_DIGITS:
                yield run.start() + position, piece
            position = brk.end() if brk else len(raw)


# The matcher sees a run with the character before it and three after (it tells a time `… 22:20`
# from a number by what follows), not the runs around it: their numbers are read on their own.
# An extension after the number (`ext. 12`, `x204`) is part of it, so the window takes it in.
_BEFORE, _AFTER = 1, 3
_EXTENSION = re.compile(r"[ ,;]*(?:ext(?:ension)?\.?|x|#)\s*\d{1,7}", re.IGNORECASE)
# Shapes of numbers that are not phone numbers, whatever libphonenumber makes of their digits: an
# IPv4 address (`93.184.216.34`, `192.168.0.1`), a date first (`2026-03-14 …`, `2026-073`), a
# decimal first or beside other numbers (`+3.140000`, `10.5606/5168620`, `629.540018 128.854821`),
# a version (`2020.5.4.55769`), a check digit last (ISBN `978-1-4493-7332-0`).
_NOT_PHONE_SHAPE = re.compile(
    r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])"
    r"|^[12]\d{3}-(?:[01]\d-[0-3]\d|[0-3]\d\d)(?!\d)"
    r"|^[+\uff0b]?\d+\.\d+(?![\d.])|(?:^|\s)[-+]?\d+\.\d+\s|\s[-+]?\d+\.\d+$"
    r"|(?:^|\.)\d\.|-\d$"
)
_BARE = re.compile(r"\d+(?:\.\d+)?")  # `1702716615.0`: a number unless the text says phone


def _not_a_phone(text: str, start: int, raw: str) -> bool:
    """What rules a digit run out before libphonenumber reads it: where it stands and its shape."""
    before, after = text[start - 1 : start], text[start + len(raw) : start + len(raw) + 1]
    if before.isalnum() or before and before in ".:/_=+":
        return True  # part of a word, a dotted, path-like or assigned value (`1.0.0+20260314123456`)
    if before and before in "-," and text[start - 2 : start - 1].isalnum():
        return True  # a hyphenated id (`INV-2023-757936`), a time's fraction (`22:20:02,165`)
    if after.isalpha() or before == after == "`":
        return True  # `84 48 63 9c` (hex), a code literal (`0000 0000 0000 0000`)
    if len(set(digits(raw))) == 1:
        return True  # a placeholder (`+0000000000`)
    if _BARE.fullmatch(raw):
        if before and before in "'\"" and after == before:
            return True  # a quoted string of digits is a literal in code (`'0123456789'`)
        return not has_context(text, start, _PHONE_CONTEXT)
    return bool(_NOT_PHONE_SHAPE.search(raw))


def _phone_matches(
    text: str, regions: tuple[str, ...], runs: list[re.Match[str]]
) -> Iterator[tuple[int, int, str]]:
    """(start, end, raw text) of the phone numbers libphonenumber finds in each candidate's window.

    National numbers must be valid for one of `regions` and grouped as that region writes them
    (STRICT_GROUPING: `22050 44100` or `1 2 3 4 5 6 7 8 9 10` are not US numbers, though their
    digits are), unless a word such as "call" or "phone" comes just before (`call 07911 12 34
    56`); international ones are read the same in every region, so once.
    """
    for start, raw in _phone_runs(runs):
        end = start + len(raw)
        if _not_a_phone(text, start, raw):
            continue
        low = max(0, start - _BEFORE)
        extension = _EXTENSION.match(text, end)
        window = text[low : (extension.end() if extension else end) + _AFTER]
        plus = raw[0] in "+\uff0b"
        said = has_context(text, start, _PHONE_WORD, _PHONE_WORD_WINDOW)
        leniency = phonenumbers.Leniency.VALID if said else phonenumbers.Leniency.STRICT_GROUPING
        found = False
        for region in regions[:1] if plus else regions:
            for m in phonenumbers.PhoneNumberMatcher(window, region, leniency=leniency):
                if low + m.start < end and low + m.end > start:
                    found = True
                    yield low + m.start, low + m.end, m.raw_string
            if found:
                break  # a number valid in two regions is one number
        # A `+` number of 10 to 15 digits that fits its country's lengths but is not allocated (`+1 555
        # 555 5555`) is still written as a phone number; the chunk gate holds such residues, so it goes too.
        if plus and not found:
            for m in phonenumbers.PhoneNumberMatcher(window, "ZZ", leniency=phonenumbers.Leniency.POSSIBLE):
                if low + m.start < end and low + m.end > start and m.raw_string.startswith("+"):
                    if 10 <= len(digits(m.raw_string)) <= 15:
                        yield low + m.start, low + m.end, m.raw_string


def phone_spans(text: str, regions: tuple[str, ...], runs: list[re.Match[str]]) -> Iterator[tuple[int, int]]:
    """(start, end) of each phone number in `text`.

    Args:
        text: Normalised document text.
        regions: ISO 3166 regions, in order, for numbers written without a country code.
        runs: `digit_runs(text)`.
    """
    for start, end, raw in _phone_matches(text, regions, runs):
        if _not_a_phone(text, start, raw):
            continue  # the matcher found a number inside the run: the same checks apply to it
        if raw.count("(") != raw.count(")"):
            continue  # `format(4724567890`: a call's opening parenthesis, not an area code's
        yield start, end
