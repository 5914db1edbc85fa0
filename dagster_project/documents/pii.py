"""PII detection in document text with validated detectors: phone numbers, checksummed ids, emails.

Phone numbers go through `phonenumbers` in `phones.py` (Google's libphonenumber metadata: a
number must be valid for its country and grouped as it is written there, not merely look like
one); card numbers, IBANs and national ids through `python-stdnum`'s checksum and format rules;
emails through a pattern, plus the obfuscated forms people type to dodge scrapers (`jane dot
doe at gmail dot com`, `jane[at]example[dot]org`). A regular expression only proposes a
candidate; the validator decides. Ids whose check is weak (a 9-digit number passes the BSN or
SIN check one time in ten or eleven) also need a context word before them ("BSN", "SIN",
"Steuer-ID"), which is what keeps numeric tables intact.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from stdnum import iban, luhn
from stdnum.ca import sin
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.us import ssn

from dagster_project.documents.phones import context_pattern, digit_runs, digits, has_context, phone_spans

# Placeholder kinds, as written into the text (`[EMAIL]`) and counted in `pii_redactions`.
PII_KINDS = ("EMAIL", "PHONE", "CARD_NUMBER", "IBAN", "NATIONAL_ID")


# The chunk suite's `no_residual_pii` (expectations/curated.document_chunks.json, RE2 as DuckDB runs
# it) names the shapes that are PII without a checksum, each of which `redact_pii` must remove: an
# email address (domain starting with a letter, not the user part of a URL, not an SSH remote), a `+`
# number of 10 to 15 digits, a dashed SSN within the SSA's ranges, a UK NI number. Cards, IBANs and
# other ids need their checksum, which a regular expression cannot run. tests/documents/test_pii.py
# runs that regex over redacted text.


@dataclass(frozen=True)
class PiiOptions:
    """How to read numbers written without a country code.

    Attributes:
        phone_regions: ISO 3166 regions, tried in order, for national-format numbers such as
            `020 7946 0321` (GB) or `(415) 555-0132` (US); international ones (`+44 …`, `0044 …`)
            are found whatever the list.
    """

    phone_regions: tuple[str, ...] = ("GB", "US")


@dataclass(frozen=True)
class Finding:
    """One detected PII value: its span in the text, placeholder kind and the detector that found it."""

    start: int
    end: int
    kind: str
    detector: str


_SSN_CONTEXT = context_pattern(r"ssn|ss#|social security(?: number| no\.?)?|soc\.? sec\.?|taxpayer id|itin")
_BSN_CONTEXT = context_pattern(r"bsn|burgerservicenummer|sofi(?:nummer)?|citizen service number")
_SIN_CONTEXT = context_pattern(r"sin|social insurance(?: number)?|nas")
_IDNR_CONTEXT = context_pattern(
    r"steuer-?id(?:entifikationsnummer)?|steuerliche identifikationsnummer|idnr|tax id|steuer-?idnr|tin"
)


# --- emails ---------------------------------------------------------------------------------------

# File names such as `logo@2x.png` have the shape of an address; these endings are files, not domains.
_FILE_SUFFIXES = set("png jpg jpeg gif svg webp js css py json txt html yaml".split())
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_EMAIL = re.compile(r"(?<![\w.%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.([A-Za-z]{2,24})\b")
_AT = r"(?:\s*[\[({<]\s*at\s*[\])}>]\s*|\s+at\s+|\s*@\s*)"
_DOT = r"(?:\s*[\[({<]\s*dot\s*[\])}>]\s*|\s+dot\s+)"
_DOT_WORD = re.compile(r"dot", re.IGNORECASE)
_TLDS = (
    r"com|org|net|edu|gov|io|co|uk|de|fr|nl|es|it|eu|info|biz|me|us|ca|au|ie|be|ch|at|se|no|dk|fi|pl|"
    r"pt|in|jp|cn|br|mx|nz|za|example|email|mail|dev|app|tech|online"
)
_WORD = r"[A-Za-z0-9_%+-]+"
# `jane dot doe at gmail dot com`, `jane[at]example[dot]org`: an AT word and at least one DOT word.
_OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.])(?:{_WORD}(?:{_DOT}|\.))*{_WORD}{_AT}(?:{_WORD}(?:{_DOT}|\.))*{_WORD}{_DOT}(?:{_TLDS})\b",
    re.IGNORECASE,
)


def _plain_emails(text: str) -> Iterator[re.Match[str]]:
    # From each `@`, back to where the address would start: `_EMAIL` then runs there only.
    at = text.find("@")
    while at >= 0:
        start = at
        while start and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        m = _EMAIL.match(text, start) if start < at else None
        if m:
            yield m
        at = text.find("@", m.end() if m else at + 1)


def _emails(text: str) -> Iterator[Finding]:
    for m in _plain_emails(text):
        if m.group(1).lower() in _FILE_SUFFIXES or text[m.end() : m.end() + 1] == ":":
            continue  # `icon@2x.png`; `git@github.com:org/repo.git` is an SSH remote, not a mailbox
        if text[max(0, m.start() - 3) : m.start()] == "://":
            continue  # the user part of a URL (`https://key@host/`) is a credential or id, not an address
        yield Finding(m.start(), m.end(), "EMAIL", "email")
    # Every obfuscated form spells out "dot": only the lines holding that word are searched.
    lines: set[int] = set()
    for hit in _DOT_WORD.finditer(text):
        line_start = text.rfind("\n", 0, hit.start()) + 1
        if line_start in lines:
            continue
        lines.add(line_start)
        line_end = text.find("\n", hit.end())
        line = text[line_start : line_end if line_end >= 0 else len(text)]
        for m in _OBFUSCATED_EMAIL.finditer(line):
            if "@" not in m.group(0) or re.search(_DOT, m.group(0), re.IGNORECASE):
                yield Finding(line_start + m.start(), line_start + m.end(), "EMAIL", "email_obfuscated")


# --- cards and IBANs ------------------------------------------------------------------------------

_CARD = re.compile(r"(?<![\w.,/-])\d(?:[ -]?\d){12,18}(?![\w]|[.,/-]\d)")
# Issuer prefixes of the card networks (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
# Maestro): a Luhn-valid digit run outside them is an order or tracking number.
_CARD_PREFIX = re.compile(
    r"^(?:4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6011|64[4-9]|65|35|3(?:0[0-5]|[689])|62|5[06-8]|6)"
)
_CARD_GROUPS = {(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 1), (4, 4, 4, 2), (4, 4, 4, 3)}


def _cards(text: str) -> Iterator[Finding]:
    for m in _CARD.finditer(text):
        value = m.group(0)
        number = digits(value)
        groups = tuple(len(g) for g in re.split(r"[ -]", value))
        if len(groups) > 1 and groups not in _CARD_GROUPS:
            continue
        # 13-digit Visa numbers are no longer issued; 13 digits are far more often EAN barcodes.
        if 14 <= len(number) <= 19 and _CARD_PREFIX.match(number) and luhn.is_valid(number):
            yield Finding(m.start(), m.end(), "CARD_NUMBER", "card")


# Possessive groups (`{1,4}+`): on a long hex string a plain group backtracks through every split.
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}+){3,8}\b", re.IGNORECASE)


# Two letters then two digits, found without the word boundary that makes `_IBAN` scan slowly; the
# full pattern then runs only where this matched (the two cannot overlap, letters before digits).
_IBAN_START = re.compile(r"[A-Za-z]{2}\d\d")


def _ibans(text: str) -> Iterator[Finding]:
    for start in _IBAN_START.finditer(text):
        if start.start() and (text[start.start() - 1].isalnum() or text[start.start() - 1] == "_"):
            continue  # inside a word (`sha256:ab12…`): `_IBAN` starts at a word boundary
        m = _IBAN.match(text, start.start())
        if m is None:
            continue
        value = m.group(0)
        # The pattern may swallow a following word (`… 7654 32 PAID`): drop trailing groups until valid.
        while len(value) >= 15:
            if iban.is_valid(value):
                yield Finding(m.start(), m.start() + len(value), "IBAN", "iban")
                break
            value = value[: value.rfind(" ")] if " " in value else ""


# --- national ids ---------------------------------------------------------------------------------

# HMRC's rules: the first letter is not D, F, I, Q, U or V, the second not D, F, I, O, Q, U or V,
# and some prefixes are never issued. QQ is HMRC's specimen prefix, redacted as well since
# documents copy it as a real-looking number.
_NINO = re.compile(r"[A-Z]{2} ?\d\d ?\d\d ?\d\d ?[A-D]\b")
_NINO_NEVER = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}


def _valid_nino(prefix: str) -> bool:
    if prefix == "QQ":
        return True
    return prefix[0] not in "DFIQUV" and prefix[1] not in "DFIOQUV" and prefix not in _NINO_NEVER


@dataclass(frozen=True)
class _IdRule:
    detector: str
    pattern: re.Pattern[str]
    is_valid: Callable[[str], bool]
    context: re.Pattern[str] | None = None  # required unless the value is written in its usual grouping
    grouped: re.Pattern[str] | None = None  # a grouping distinctive enough to need no context
    in_runs: bool = False  # digits only, 8 or more: searched only within the digit runs (faster)
    # Characters, besides letters, digits and `_`, that may not stand before a value. Checked here
    # rather than by a leading `\b` or lookbehind, which would stop `re` from skipping quickly to
    # where the pattern's first character occurs (twice as fast).
    not_after: str | None = None


_ID_RULES = (
    _IdRule(
        "us_ssn",
        re.compile(r"(?<![\w.,/-])\d{3}([- ]?)\d{2}\1\d{4}(?![\w]|[.,/-]\d)"),
        lambda v: ssn.is_valid(digits(v)),
        _SSN_CONTEXT,
        re.compile(r"^\d{3}-\d{2}-\d{4}$"),
        in_runs=True,
    ),
    _IdRule("gb_nino", _NINO, lambda v: _valid_nino(v[:2]), not_after=""),
    _IdRule(
        "de_idnr",
        re.compile(r"(?<![\w.,/-])\d{2} ?\d{3} ?\d{3} ?\d{3}(?![\w]|[.,/-]\d)"),
        lambda v: idnr.is_valid(digits(v)),
        _IDNR_CONTEXT,
        in_runs=True,
    ),
    _IdRule(
        "fr_nir",
        re.compile(r"[12] ?\d{2} ?(?:0[1-9]|1[0-2]|[2-9]\d) ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}\b"),
        lambda v: nir.is_valid(v.replace(" ", "")),
        not_after=".,/-",
    ),
    _IdRule(
        "nl_bsn",
        re.compile(
            r"(?<![\w.,/-])\d{4}[. ]?\d{2}[. ]?\d{3}(?![\w]|[.,/-]\d)|(?<![\w.,/-])\d{9}(?![\w]|[.,/-]\d)"
        ),
        lambda v: bsn.is_valid(digits(v)),
        _BSN_CONTEXT,
        in_runs=True,
    ),
    _IdRule(
        "es_dni",
        re.compile(r"\b(?:\d{8}|[XYZ]-?\d{7})-?[A-Z]\b"),
        lambda v: dni.is_valid(v) or nie.is_valid(v),
    ),
    _IdRule(
        "it_codicefiscale",
        re.compile(r"[A-Z]{6}\d{2}[A-Z]\d{2}[A-Z]\d{3}[A-Z]\b"),
        codicefiscale.is_valid,
        not_after="",
    ),
    _IdRule(
        "ca_sin",
        re.compile(r"(?<![\w.,/-])\d{3}([- ]?)\d{3}\1\d{3}(?![\w]|[.,/-]\d)"),
        lambda v: sin.is_valid(digits(v)),
        _SIN_CONTEXT,
        in_runs=True,
    ),
)


def _id_matches(text: str, rule: _IdRule, runs: list[re.Match[str]]) -> Iterator[re.Match[str]]:
    if not rule.in_runs:
        yield from rule.pattern.finditer(text)
        return
    for run in runs:  # four characters past the run: what the pattern's lookahead reads
        yield from rule.pattern.finditer(text, run.start(), min(run.end() + 4, len(text)))


def _national_ids(text: str, runs: list[re.Match[str]]) -> Iterator[Finding]:
    for rule in _ID_RULES:
        for m in _id_matches(text, rule, runs):
            value, before = m.group(0), text[m.start() - 1 : m.start()]
            if rule.not_after is not None and before and (before.isalnum() or before in "_" + rule.not_after):
                continue
            if rule.context is not None and not (
                (rule.grouped is not None and rule.grouped.match(value))
                or has_context(text, m.start(), rule.context)
            ):
                continue
            if rule.is_valid(value):
                yield Finding(m.start(), m.end(), "NATIONAL_ID", rule.detector)


# --- all together ---------------------------------------------------------------------------------

# Where two findings overlap, the one with the stronger check wins (an IBAN's digits may hold a
# Luhn-valid run; a NIR's may parse as a phone number).
_PRIORITY = {"IBAN": 0, "CARD_NUMBER": 1, "NATIONAL_ID": 2, "EMAIL": 3, "PHONE": 4}


def find_pii(text: str, options: PiiOptions | None = None) -> list[Finding]:
    """Every PII value in `text`, as non-overlapping findings in text order.

    Args:
        text: Normalised document text.
        options: Regions for national-format phone numbers; the default reads GB, then US.

    Returns:
        Findings sorted by start offset.
    """
    options = options or PiiOptions()
    runs = digit_runs(text)
    candidates = [
        *_ibans(text),
        *_cards(text),
        *_national_ids(text, runs),
        *_emails(text),
        *(Finding(s, e, "PHONE", "phone") for s, e in phone_spans(text, options.phone_regions, runs)),
    ]
    candidates.sort(key=lambda f: (_PRIORITY[f.kind], -(f.end - f.start), f.start))
    taken: list[Finding] = []
    for finding in candidates:
        if all(finding.end <= t.start or finding.start >= t.end for t in taken):
            taken.append(finding)
    return sorted(taken, key=lambda f: f.start)


def redact_pii(text: str, options: PiiOptions | None = None) -> tuple[str, dict[str, int]]:
    """Replace each PII value by its `[KIND]` placeholder.

    Returns:
        The redacted text and a count per placeholder kind (kinds with no finding are left out).
    """
    counts: dict[str, int] = {}
    parts: list[str] = []
    position = 0
    for finding in find_pii(text, options):
        parts += [text[position : finding.start], f"[{finding.kind}]"]
        position = finding.end
        counts[finding.kind] = counts.get(finding.kind, 0) + 1
    parts.append(text[position:])
    return "".join(parts), counts
