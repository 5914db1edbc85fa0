"""Column types and statistics from landed values: the narrowest type every value fits, widened as needed.

A value's class is what the ingest's exact casts (`ingest/casts.py`) would accept it as; a column's
type is the join of its values' classes (long and a fixed-scale decimal make that decimal; mixed
scales, or a number in exponent form, make double; dates and naive timestamps make timestamp;
anything else makes string). Statistics are what the starter suite and the PII guess need; values
are never put in messages (they may be personal data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dagster_project.onboard.landed import JsonNumber

NULL_CANDIDATES = ("NA", "N/A", "n/a", "NULL", "null", "None", "NaN", "nan", "-", "#N/A", "nil")
ISO = ""  # the date or timestamp format "ISO 8601" (no `formats:` entry needed)
# Only directives DuckDB's strptime reads (the ingest parses with it, `ingest/dialect_casts.py`); month
# names are English, as there. Day and month numbers may have one digit (1/2/2024), as there.
NAMED_MONTH_FORMATS = (
    "%b %d %Y",
    "%d %b %Y",
    "%b %d, %Y",
    "%d-%b-%Y",
    "%B %d %Y",
    "%d %B %Y",
    "%B %d, %Y",
)
DATE_FORMATS = (ISO, "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d", "%d-%m-%Y", *NAMED_MONTH_FORMATS)
TIME_PARTS = (" %H:%M:%S", " %H:%M", "T%H:%M:%S", " %H:%M:%S.%f")
TIMESTAMP_FORMATS = (ISO, *(d + t for d in DATE_FORMATS[1:] for t in TIME_PARTS))
SMALL_SET = 12  # at most this many distinct values make a value set in the suite
BOOLEANS = {"true", "false", "t", "f", "yes", "no"}
NUMERIC = ("long", "decimal", "double")
TEMPORAL = ("date", "timestamp")
_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")
_LEADING_ZERO = re.compile(r"^\s*[+-]?0\d")
_FIXED = re.compile(r"^\s*[+-]?(\d*)\.(\d+)\s*$")
_NUMBER = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_NAIVE = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$")
_ISO_AWARE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)$"
)
_MONTH_NAME = re.compile(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b.*\d", re.I)
_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d ().-]{7,20}$")
INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class ValueClass:
    """What one value can be: its kind, a decimal's scale and digits, a temporal value's formats."""

    kind: str
    scale: int = 0
    digits: int = 0  # digits before the point
    formats: tuple[str, ...] = ()


STRING = ValueClass("string")


def _temporal(text: str) -> ValueClass | None:
    text = text.strip()
    if _ISO_AWARE.match(text):
        try:
            datetime.fromisoformat(text.replace("z", "Z"))
            return ValueClass("timestamptz")
        except ValueError:
            return None
    dates = tuple(f for f in DATE_FORMATS if _parses(text, f, date_only=True))
    if dates:
        return ValueClass("date", formats=dates)
    stamps = tuple(f for f in TIMESTAMP_FORMATS if _parses(text, f, date_only=False))
    return ValueClass("timestamp", formats=stamps) if stamps else None


def _parses(text: str, fmt: str, *, date_only: bool) -> bool:
    if fmt == ISO:
        pattern = _ISO_DATE if date_only else _ISO_NAIVE
        if not pattern.match(text):
            return False
        try:
            (date.fromisoformat if date_only else datetime.fromisoformat)(text)
            return True
        except ValueError:
            return False
    named = "%b" in fmt or "%B" in fmt
    # Cheap refusals first: most text is no date, and strptime is tried per value and format.
    if not (_MONTH_NAME.search(text) if named else text[:1].isdigit()):
        return False
    try:
        datetime.strptime(text, fmt)
        return True
    except ValueError:
        return False


def classify_text(text: str, decimal_comma: bool = False) -> ValueClass:
    """The class of a text value (a CSV field, or a JSON string when `numbers` is true)."""
    if text.strip().lower() in BOOLEANS:
        return ValueClass("boolean")
    number = text
    if decimal_comma:
        if "." in text:
            return _temporal(text) or STRING
        number = text.replace(",", ".")
    if _LEADING_ZERO.match(number):  # codes such as zip codes: the zeros are part of the value
        return _temporal(text) or STRING
    if _INTEGER.match(number):
        value = int(number)
        if INT64[0] <= value <= INT64[1]:
            return ValueClass("long", digits=len(str(abs(value))))
        return ValueClass("decimal", digits=len(str(abs(value))))
    fixed = _FIXED.match(number)
    if fixed:
        return ValueClass("decimal", scale=len(fixed.group(2)), digits=len(fixed.group(1).lstrip("0")))
    if _NUMBER.match(number):
        return ValueClass("double")
    return _temporal(text) or STRING


def classify_json(value: Any) -> ValueClass:
    """The class of a JSON value: numbers by how they are written, strings as dates or text."""
    if isinstance(value, bool):
        return ValueClass("boolean")
    if isinstance(value, int):
        return ValueClass("long", digits=len(str(abs(value)))) if INT64[0] <= value <= INT64[1] else STRING
    if isinstance(value, JsonNumber):
        return classify_text(str(value))
    if isinstance(value, str):
        return _temporal(value) or STRING
    return STRING  # a list, or an empty object: kept as JSON text


def join(a: ValueClass | None, b: ValueClass) -> ValueClass:
    """The narrowest class both fit in."""
    if a is None or a == b:
        return b
    kinds = {a.kind, b.kind}
    digits = max(a.digits, b.digits)
    if kinds <= set(NUMERIC):
        if "double" in kinds or (a.kind == b.kind == "decimal" and a.scale != b.scale):
            return ValueClass("double")
        if "decimal" in kinds:
            return ValueClass("decimal", max(a.scale, b.scale), digits)
        return ValueClass("long", digits=digits)
    if kinds <= {"date", "timestamp"}:
        formats = tuple(f for f in a.formats if f in b.formats)
        if a.kind != b.kind:  # a date and a timestamp meet only in ISO 8601
            formats = (ISO,) if ISO in formats else ()
        return ValueClass(a.kind if a.kind == b.kind else "timestamp", formats=formats) if formats else STRING
    if a.kind == b.kind and a.kind not in TEMPORAL:
        return a
    return STRING


@dataclass
class ColumnProfile:
    """One column: its class so far and what the suite and the PII guess need."""

    name: str
    original: str
    fixed_type: str | None = None  # Parquet: the file's own type, not inferred
    pii: str | None = None  # the registry's PII kind, guessed once every value was seen
    value_class: ValueClass | None = None
    count: int = 0
    nulls: int = 0
    minimum: Any = None
    maximum: Any = None
    values: set[str] = field(default_factory=set)
    many_values: bool = False
    emails: int = 0
    phones: int = 0
    total_length: int = 0

    def observe(self, value: Any, value_class: ValueClass | None) -> None:
        if value is None:
            self.nulls += 1
            return
        self.count += 1
        if value_class is not None:
            self.value_class = join(self.value_class, value_class)
        text = value if isinstance(value, str) else str(value)
        self.total_length += len(text)
        if not self.many_values:
            self.values.add(text)
            self.many_values = len(self.values) > SMALL_SET
            if self.many_values:
                self.values.clear()
        if isinstance(value, str):
            if "@" in text and _EMAIL.match(text.strip()):
                self.emails += 1
            elif _PHONE.match(text.strip()) and sum(c.isdigit() for c in text) >= 7:
                self.phones += 1
        number = _number(value)
        if number is not None:
            self.minimum = number if self.minimum is None else min(self.minimum, number)
            self.maximum = number if self.maximum is None else max(self.maximum, number)

    @property
    def type(self) -> str:
        """The registry type name."""
        if self.fixed_type:
            return self.fixed_type
        cls = self.value_class
        if cls is None:
            return "string"
        if cls.kind == "decimal":
            return f"decimal({18 if cls.digits + cls.scale <= 18 else 38},{cls.scale})"
        return cls.kind

    @property
    def formats(self) -> tuple[str, ...]:
        return self.value_class.formats if self.value_class else ()


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(value) if not isinstance(value, float) or value == value else None
    if isinstance(value, str) and _NUMBER.match(value.replace(",", ".", 1) if "." not in value else value):
        try:
            return Decimal(value.strip().replace(",", "."))
        except InvalidOperation:
            return None
    return None


def null_markers(sample: dict[str, list[str]], comma: bool = False) -> list[str]:
    """The null markers of a CSV sample: '' and each word such as NA that stands in a typed column.

    A marker counts when, in some column, every other value has a type other than text (so `NA`
    in a country column of `FR`, `NA`, `DE` is Namibia, not a missing value).
    """
    found = [""]
    for candidate in NULL_CANDIDATES:
        for values in sample.values():
            others = [v for v in values if v not in NULL_CANDIDATES and v != ""]
            if (
                candidate in values
                and others
                and all(classify_text(v, comma).kind != "string" for v in others)
            ):
                found.append(candidate)
                break
    return found


def decimal_comma(sample: dict[str, list[str]], delimiter: str) -> bool:
    """Whether numbers are written with a decimal comma (only possible when ',' is not the delimiter)."""
    if delimiter == ",":
        return False
    for values in sample.values():
        present = [v for v in values if v not in NULL_CANDIDATES and v != ""]
        if any(re.fullmatch(r"\s*[+-]?\d+,\d+\s*", v) for v in present) and all(
            classify_text(v, True).kind in NUMERIC for v in present
        ):
            return True
    return False


def pii_kind(profile: ColumnProfile) -> str | None:
    """The registry's PII kind this column probably holds, from its name, then from its values.

    Email, name and free text are kinds of text: a number, date or flag named like one (`body_mass_g`)
    is none of them, and staging's text masks would not apply to it. A phone number may be stored as
    a number; address-like identifiers (`other`) are PII whatever their type.
    """
    name = profile.name
    text = profile.type == "string"
    if text and re.search(r"(^|_)(e_?mail|email_address)($|_)", name):
        return "email"
    if re.search(r"(^|_)(phone|telephone|tel|mobile|cell|fax)($|_)", name) and profile.type in (
        "string",
        "int",
        "long",
    ):
        return "phone"
    if (
        text
        and re.search(
            r"(^|_)(first|last|given|family|full|middle|sur|contact|customer|person|user)_?name$", name
        )
        or name in ("name", "surname", "forename")
    ):
        return "name"
    if re.search(r"(^|_)(address|street|ssn|iban|passport|birth|dob|ip_address|postcode|zip)($|_)", name):
        return "other"
    if text and re.search(
        r"(^|_)(comment|comments|note|notes|body|message|text|free_text|remarks)($|_)", name
    ):
        return "free_text"
    if not text or not profile.count:
        return None
    if profile.emails >= 0.5 * profile.count:
        return "email"
    if profile.phones >= 0.5 * profile.count:
        return "phone"
    if profile.total_length / profile.count > 60:
        return "free_text"
    return None
