"""A labelled PII set: tickets and notes with planted PII at known spans, and technical pages with none.

Generated deterministically (one seed) so tests and `benchmarks/bench_pii.py` measure the same
text. Values are valid for their checksum or numbering plan (the redactor must not find them
merely by shape, and neither may a test), in the formats people type them in. `measure()` scores
any redactor that returns findings as (start, end) spans.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.de import idnr
from stdnum.es import dni
from stdnum.fr import nir
from stdnum.it import codicefiscale
from stdnum.nl import bsn

from tests.documents.pii_technical import technical_pages

SEED = 16
PER_KIND = 20


@dataclass
class Labelled:
    """A text and its planted PII as (start, end, kind) spans."""

    text: str
    spans: list[tuple[int, int, str]] = field(default_factory=list)


# --- values, per kind: (value, the words that introduce it) ---------------------------------------

FIRST = [
    "Jane",
    "Tom",
    "Priya",
    "Marek",
    "Aoife",
    "Luis",
    "Chen",
    "Fatima",
    "Oliver",
    "Sofia",
    "Kwame",
    "Ines",
]
LAST = ["Doe", "Okafor", "Sharma", "Nowak", "Byrne", "Garcia", "Wei", "Haddad", "Smith", "Rossi", "Mensah"]
DOMAINS = ["gmail.com", "outlook.com", "example.org", "kestrelhome.co.uk", "web.de", "yahoo.fr", "proton.me"]


def _email(r: random.Random) -> tuple[str, str]:
    first, last, domain = r.choice(FIRST).lower(), r.choice(LAST).lower(), r.choice(DOMAINS)
    local = r.choice([f"{first}.{last}", f"{first[0]}{last}", f"{first}_{last}{r.randint(1, 99)}", first])
    return f"{local}@{domain}", r.choice(["email", "e-mail", "reply to", "contact", "write to"])


def _email_obfuscated(r: random.Random) -> tuple[str, str]:
    first, last = r.choice(FIRST).lower(), r.choice(LAST).lower()
    name, domain = r.choice(["gmail", "example", "outlook", "hotmail"]), r.choice(["com", "org", "net"])
    forms = [
        f"{first} dot {last} at {name} dot {domain}",
        f"{first}[at]{name}[dot]{domain}",
        f"{first}.{last} (at) {name} (dot) {domain}",
        f"{first.upper()} AT {name.upper()} DOT {domain.upper()}",
        f"{first}{last[0]} [at] {name} [dot] {domain}",
        f"{first} {{at}} {name} {{dot}} co {{dot}} uk",
    ]
    return r.choice(forms), r.choice(["email me at", "address is", "mail", "reach me on"])


_GB_NUMBERS = ["20 7946 0{:03d}", "113 496 0{:03d}", "161 496 0{:03d}", "117 496 0{:03d}", "7911 123{:03d}"]


def _phone_gb(r: random.Random) -> tuple[str, str]:
    national = r.choice(_GB_NUMBERS).format(r.randint(0, 999))
    area, rest = national.split(" ", 1)
    forms = [
        f"0{national}",
        f"(0{area}) {rest}",
        f"0{area} {rest.replace(' ', '-')}",
        f"+44 {national}",
        f"+44 (0){area} {rest}",
        f"0044 (0){area}-{rest.replace(' ', '-')}",
        f"+44{national.replace(' ', '')}",
    ]
    return r.choice(forms), r.choice(["call", "phone", "mobile", "rang from", "tel.", "on"])


_US_AREAS = [212, 312, 415, 617, 646, 202, 303, 503, 206, 713, 305]


def _phone_us(r: random.Random) -> tuple[str, str]:
    area, line = r.choice(_US_AREAS), f"{r.randint(100, 199):04d}"
    forms = [
        f"({area}) 555-{line}",
        f"{area}-555-{line}",
        f"{area}.555.{line}",
        f"+1 {area} 555 {line}",
        f"+1 ({area}) 555-{line}",
        f"1-{area}-555-{line}",
    ]
    return r.choice(forms), r.choice(["call", "cell", "phone", "reach him at", "her number is"])


_INTL = [
    "+49 30 901820{:02d}",
    "+33 1 42 68 53 {:02d}",
    "+31 20 624 11{:02d}",
    "+353 1 234 56{:02d}",
    "+61 2 9374 40{:02d}",
    "+34 912 345 6{:02d}",
    "+39 06 6982 12{:02d}",
    "+49 (0)89 4521 77{:02d}",
]


def _phone_intl(r: random.Random) -> tuple[str, str]:
    return r.choice(_INTL).format(r.randint(0, 99)), r.choice(["phone", "office", "call", "WhatsApp", "tel"])


_CARD_PREFIXES = [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16)]


def _card(r: random.Random) -> tuple[str, str]:
    prefix, length = r.choice(_CARD_PREFIXES)
    body = prefix + "".join(r.choice(string.digits) for _ in range(length - len(prefix) - 1))
    digits = body + luhn.calc_check_digit(body)
    if length == 15:
        grouped = [digits[:4], digits[4:10], digits[10:]]
    else:
        grouped = [digits[i : i + 4] for i in range(0, 16, 4)]
    value = r.choice([" ".join(grouped), "-".join(grouped), digits])
    return value, r.choice(["card", "card number", "paid with", "Visa", "the long number"])


_IBAN_BBAN = {
    "GB": lambda r: "WEST" + _n(r, 14),
    "DE": lambda r: _n(r, 18),
    "NL": lambda r: "ABNA" + _n(r, 10),
    "FR": lambda r: _n(r, 10) + "A" + _n(r, 10) + _n(r, 2),
    "ES": lambda r: _n(r, 20),
    "IE": lambda r: "AIBK" + _n(r, 14),
}


def _n(r: random.Random, k: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(k))


def _iban(r: random.Random) -> tuple[str, str]:
    while True:
        country = r.choice(sorted(_IBAN_BBAN))
        bban = _IBAN_BBAN[country](r)
        compact = country + stdnum_iban.calc_check_digits(country + "00" + bban) + bban
        if stdnum_iban.is_valid(compact):
            break
    value = r.choice([stdnum_iban.format(compact), compact, stdnum_iban.format(compact).lower()])
    return value, r.choice(["IBAN", "refund to", "bank account", "account", "pay into"])


def _us_ssn(r: random.Random) -> tuple[str, str]:
    area, group, serial = (
        r.choice([r.randint(1, 665), r.randint(667, 899)]),
        r.randint(1, 99),
        r.randint(1, 9999),
    )
    sep = r.choice(["-", "-", " ", ""])
    context = (
        "-" if sep == "-" and r.random() < 0.4 else r.choice(["SSN", "social security number", "SSN:", "SS#"])
    )
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}", context


def _gb_nino(r: random.Random) -> tuple[str, str]:
    first, second = r.choice("ABCEGHJKLMNOPRSTWXYZ"), r.choice("ABCEGHJKLMNPRSTWXYZ")
    if first + second in {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}:
        first, second = "J", "K"
    digits = _n(r, 6)
    suffix = r.choice("ABCD")
    value = r.choice(
        [
            f"{first}{second} {digits[:2]} {digits[2:4]} {digits[4:]} {suffix}",
            f"{first}{second}{digits}{suffix}",
            f"QQ {digits[:2]} {digits[2:4]} {digits[4:]} C",
        ]
    )
    return value, r.choice(["NI number", "National Insurance", "NINO", "NI no."])


def _de_idnr(r: random.Random) -> tuple[str, str]:
    while True:
        digits = str(r.randint(1, 9)) + _n(r, 10)
        if idnr.is_valid(digits):
            break
    value = r.choice([digits, f"{digits[:2]} {digits[2:5]} {digits[5:8]} {digits[8:]}"])
    return value, r.choice(["Steuer-ID", "Steuer-IdNr", "tax ID", "Steuerliche Identifikationsnummer"])


def _fr_nir(r: random.Random) -> tuple[str, str]:
    born = f"{r.randint(1, 2)}{r.randint(40, 99):02d}{r.randint(1, 12):02d}"
    base = f"{born}{r.randint(1, 95):02d}{_n(r, 3)}{_n(r, 3)}"
    value = base + nir.calc_check_digits(base)
    spaced = f"{value[0]} {value[1:3]} {value[3:5]} {value[5:7]} {value[7:10]} {value[10:13]} {value[13:]}"
    return r.choice([value, spaced]), r.choice(["numéro de sécurité sociale", "NIR", "sécu", "French SSN"])


def _nl_bsn(r: random.Random) -> tuple[str, str]:
    while True:
        digits = _n(r, 9)
        if digits[0] != "0" and bsn.is_valid(digits):
            break
    value = r.choice(
        [digits, f"{digits[:4]}.{digits[4:6]}.{digits[6:]}", f"{digits[:4]} {digits[4:6]} {digits[6:]}"]
    )
    return value, r.choice(["BSN", "burgerservicenummer", "BSN:", "citizen service number"])


def _es_dni(r: random.Random) -> tuple[str, str]:
    body = _n(r, 8)
    value = body + dni.calc_check_digit(body)
    return r.choice([value, f"{body}-{value[-1]}"]), r.choice(["DNI", "DNI:", "NIF", "documento"])


def _it_codicefiscale(r: random.Random) -> tuple[str, str]:
    while True:
        body = (
            "".join(r.choice(string.ascii_uppercase) for _ in range(6))
            + f"{r.randint(40, 99)}"
            + r.choice("ABCDEHLMPRST")
            + f"{r.randint(1, 28) + r.choice([0, 40]):02d}"
            + r.choice("ABCDEFGHILM")
            + _n(r, 3)
        )
        value = body + codicefiscale.calc_check_digit(body)
        if codicefiscale.is_valid(value):
            return value, r.choice(["codice fiscale", "CF", "tax code"])


KINDS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "email": _email,
    "email_obfuscated": _email_obfuscated,
    "phone_gb": _phone_gb,
    "phone_us": _phone_us,
    "phone_intl": _phone_intl,
    "card": _card,
    "iban": _iban,
    "us_ssn": _us_ssn,
    "gb_nino": _gb_nino,
    "de_idnr": _de_idnr,
    "fr_nir": _fr_nir,
    "nl_bsn": _nl_bsn,
    "es_dni": _es_dni,
    "it_codicefiscale": _it_codicefiscale,
}

# --- tickets and notes: {ctx} is the introducing words, {pii} the value, the rest is realistic filler -

TEMPLATES = [
    "Ticket #{order}: customer says the parcel never arrived. {ctx} {pii} if the courier needs directions. "
    "Order placed 2026-03-{day} 14:{minute}, total £{amount}.",
    "Hi team,\n\nCould you update my details? New {ctx}: {pii}. I moved in March and the old one is "
    "gone.\n\nThanks",
    "Internal note ({agent}): verified identity on the phone; {ctx} {pii} matches the account. Refund of "
    "£{amount} approved, ref RF-{order}.",
    "Escalation: caller was upset about delivery slot 08:00-12:00 on {day}/04. {ctx} {pii}. Please call back "
    "before 17:30.",
    "From the chat transcript (session {hexid}):\n> customer: my {ctx} is {pii}\n> agent: thank you, "
    "checking now",
    "Warranty claim for kettle model KT-{model}. Customer gave {ctx} {pii} and asked for a replacement, "
    "serial SN{order}{day}.",
    "Returns form, line 3: {ctx} - {pii}\nReason: wrong colour (ordered 2, received 1). Batch {order}.",
    "Note to finance: the duplicate charge of £{amount} on order {order} should go back; {ctx} {pii}.",
    'Customer {agent} wrote in German: "Meine {ctx} ist {pii}, bitte korrigieren." Translated and attached.',
    "Callback list for {day} May:\n1. order {order}, {ctx} {pii}, re: missing screws\n2. order {model}0, "
    "no answer",
    "{ctx}: {pii}\n(pasted by the customer into the subject line of ticket {order})",
    "The courier left a card at 3:{minute} pm. The customer asked us to use {ctx} {pii} next time. Tracking "
    "JD0002{order}{day}.",
]
AGENTS = ["M. Patel", "Rosa", "agent 17", "Dimitri K.", "the night shift"]


def _filler(r: random.Random) -> dict[str, str]:
    return {
        "order": str(r.randint(100000, 999999)),
        "day": f"{r.randint(1, 28):02d}",
        "minute": f"{r.randint(0, 59):02d}",
        "amount": f"{r.randint(5, 900)}.{r.randint(0, 99):02d}",
        "agent": r.choice(AGENTS),
        "hexid": f"{r.getrandbits(48):012x}",
        "model": str(r.randint(100, 999)),
    }


def _place(template: str, context: str, value: str, fill: dict[str, str], kind: str) -> Labelled:
    head, tail = template.split("{pii}")
    prefix = head.format(ctx=context, **fill) if context != "-" else head.replace("{ctx}", "").format(**fill)
    text = prefix + value + tail.format(ctx=context, **fill)
    return Labelled(text, [(len(prefix), len(prefix) + len(value), kind)])


def pii_documents(per_kind: int = PER_KIND, seed: int = SEED) -> list[Labelled]:
    """Tickets and notes, each with one planted value, `per_kind` of every kind in `KINDS`."""
    r = random.Random(seed)
    docs = []
    for kind, make in KINDS.items():
        for _ in range(per_kind):
            value, context = make(r)
            docs.append(_place(r.choice(TEMPLATES), context, value, _filler(r), kind))
    return docs


@dataclass(frozen=True)
class Score:
    """Recall per kind on the tickets, precision over their findings, false positives on technical pages."""

    planted: dict[str, int]
    found: dict[str, int]
    findings: int
    true_findings: int
    technical_pages: int
    technical_false_positives: int
    examples: list[str]

    def recall(self, kind: str) -> float:
        return self.found[kind] / self.planted[kind]

    @property
    def precision(self) -> float:
        return self.true_findings / self.findings if self.findings else 1.0

    @property
    def false_positives_per_100_pages(self) -> float:
        return 100 * self.technical_false_positives / self.technical_pages


Spans = Callable[[str], Iterable[tuple[int, int]]]


def measure(spans: Spans, docs: list[Labelled] | None = None, pages: list[str] | None = None) -> Score:
    """Score a detector: a planted value is found when a finding overlaps it; any other finding is false."""
    docs = pii_documents() if docs is None else docs
    pages = technical_pages() if pages is None else pages
    planted = {k: 0 for k in KINDS}
    found = {k: 0 for k in KINDS}
    findings = true_findings = 0
    for doc in docs:
        hits = list(spans(doc.text))
        findings += len(hits)
        true_findings += sum(any(s < e2 and e > s2 for s2, e2, _ in doc.spans) for s, e in hits)
        for s2, e2, kind in doc.spans:
            planted[kind] += 1
            found[kind] += any(s < e2 and e > s2 for s, e in hits)
    technical = [(page, list(spans(page))) for page in pages]
    examples = [page[max(0, s - 30) : e + 30] for page, hits in technical for s, e in hits]
    return Score(planted, found, findings, true_findings, len(pages), len(examples), examples)
