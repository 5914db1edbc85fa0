"""Fake customers: names, emails on reserved domains, fictional phone numbers, and the two CRM exports."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from .files import GeneratedFile, csv_bytes, write_bytes

CUSTOMER_COLUMNS = [
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "country",
    "segment",
    "signup_date",
]
FIRST_CUSTOMER_ID = 10001
EXPORT_DAYS = [date(2026, 11, 1), date(2026, 11, 2)]


def _names(text: str) -> list[str]:
    """Split a comma-separated block of names (names themselves may contain spaces)."""
    return [n.strip() for n in text.split(",") if n.strip()]


# A few non-ASCII names on purpose: encodings and email folding must cope with them.
FIRST_NAMES = _names(
    """
    Olivia, Liam, Amelia, Noah, Isla, Oliver, Ava, George, Mia, Arthur, Sophie, Leo, Grace, Oscar,
    Freya, Harry, Emily, Jack, Chloe, Charlie, Hannah, Lukas, Lena, Jonas, Emma, Paul, Clara, Louis,
    Camille, Hugo, Léa, Chloé, Zoë, Sven, Astrid, Björn, Ingrid, Mateo, Lucía, Sofía, Javier, Giulia,
    Marco, Francesca, Luca, Aoife, Ciarán, Niamh, Sean, Priya, Arjun, Fatima, Omar, Yusuf, Mei, Wei,
    Ana, João, Kofi, Amara
    """
)
LAST_NAMES = _names(
    """
    Smith, Jones, Taylor, Brown, Williams, Wilson, Johnson, Davies, Evans, Thomas, Roberts, Walker,
    Wright, Robinson, Thompson, Hughes, Green, Hall, Clarke, Patel, Müller, Schmidt, Schneider, Fischer,
    Weber, Becker, Martin, Bernard, Dubois, Lefèvre, Moreau, Laurent, de Vries, Jansen, van Dijk,
    Bakker, García, López, Martínez, Rossi, Russo, Bianchi, Romano, Murphy, Kelly, O'Brien, Byrne,
    Andersson, Johansson, Nilsson, Øster, Kowalski, Nowak, Khan, Ali, Chen, Wang, Silva, Mensah, Okafor
    """
)
EMAIL_DOMAINS = ["example.com", "example.org", "example.net", "mail.test", "post.example"]
COUNTRY_WEIGHTS = {
    "GB": 30,
    "DE": 15,
    "FR": 12,
    "NL": 8,
    "ES": 7,
    "IT": 7,
    "IE": 5,
    "SE": 4,
    "US": 8,
    "CA": 2,
    "AU": 2,
}
SEGMENT_WEIGHTS = {"consumer": 70, "smb": 22, "enterprise": 8}

# Letters NFKD does not decompose into an ASCII base letter.
_FOLD = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "ß": "ss", "ł": "l", "đ": "d"})


@dataclass(frozen=True)
class Customer:
    """One version of a CRM customer record."""

    customer_id: int
    first_name: str
    last_name: str
    email: str
    phone: str | None
    country: str
    segment: str
    signup_date: date

    def row(self) -> list[object]:
        """Return the CSV field values in CUSTOMER_COLUMNS order."""
        return [
            self.customer_id,
            self.first_name,
            self.last_name,
            self.email,
            self.phone,
            self.country,
            self.segment,
            self.signup_date.isoformat(),
        ]


def ascii_slug(text: str) -> str:
    """Fold a name to the lowercase ASCII letters an email local part would use.

    Args:
        text: A personal name, possibly with accents, spaces or apostrophes.

    Returns:
        The folded name, e.g. "Lefèvre" -> "lefevre", "O'Brien" -> "obrien".
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower()


def fake_phone(rng: random.Random, country: str) -> str:
    """Return a number from a range reserved for fiction, so no real person is ever dialled.

    Args:
        rng: The random stream to draw from.
        country: ISO country code; North America gets 555-01xx, everyone else Ofcom's 020 7946 0xxx.

    Returns:
        The formatted international number.
    """
    if country in ("US", "CA"):
        return f"+1 202 555 01{rng.randrange(100):02d}"
    return f"+44 20 7946 0{rng.randrange(1000):03d}"


def fake_email(rng: random.Random, first: str, last: str, taken: set[str]) -> str:
    """Return an unused first.last-style address on a reserved domain and remember it in taken.

    Args:
        rng: The random stream to draw from.
        first: Given name.
        last: Family name.
        taken: Addresses already handed out; updated in place.

    Returns:
        The new address.
    """
    f, la = ascii_slug(first), ascii_slug(last)
    local = rng.choice([f"{f}.{la}", f"{f}.{la}", f"{f[0]}.{la}", f"{f}{la}", f"{f}_{la[0]}"])
    domain = rng.choice(EMAIL_DOMAINS)
    email, n = f"{local}@{domain}", 1
    while email in taken:
        n += 1
        email = f"{local}{n}@{domain}"
    taken.add(email)
    return email


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def build_customers(rng: random.Random, n: int) -> list[Customer]:
    """Create n customers with ids in signup order, the newest quarter signed up on 2026-11-01.

    Args:
        rng: The random stream to draw from.
        n: Number of customers.

    Returns:
        The customers, ordered by customer_id.
    """
    taken: set[str] = set()
    n_new = max(1, n // 4)
    start, end = date(2023, 1, 1), date(2026, 10, 31)
    span = (end - start).days
    days = sorted(start + timedelta(days=rng.randrange(span + 1)) for _ in range(n - n_new))
    days += [EXPORT_DAYS[0]] * n_new
    n_old = n - n_new
    # Null phones in both exports, so each file carries the dirt its note promises.
    null_phone = set(rng.sample(range(n_old), max(1, round(n_old * 0.03))))
    null_phone |= {n_old + i for i in rng.sample(range(n_new), max(1, round(n_new * 0.03)))}
    customers = []
    for i, signup in enumerate(days):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        country = _weighted(rng, COUNTRY_WEIGHTS)
        customers.append(
            Customer(
                customer_id=FIRST_CUSTOMER_ID + i,
                first_name=first,
                last_name=last,
                email=fake_email(rng, first, last, taken),
                phone=None if i in null_phone else fake_phone(rng, country),
                country=country,
                segment=_weighted(rng, SEGMENT_WEIGHTS),
                signup_date=signup,
            )
        )
    return customers


def _changed(rng: random.Random, c: Customer, taken: set[str]) -> Customer:
    """Return a later version of c with exactly one field changed, as the CRM would re-export it."""
    kind = rng.choice(["email", "phone", "segment", "last_name"])
    if kind == "email":
        return replace(c, email=fake_email(rng, c.first_name, c.last_name, taken))
    if kind == "phone":
        return replace(c, phone=fake_phone(rng, c.country))
    if kind == "segment":
        return replace(c, segment={"consumer": "smb", "smb": "enterprise", "enterprise": "smb"}[c.segment])
    last = rng.choice([n for n in LAST_NAMES if n != c.last_name])
    return replace(c, last_name=last)


def _with_duplicates(rng: random.Random, rows: list[list[object]], count: int) -> list[list[object]]:
    """Insert count exact copies of random rows somewhere after their original."""
    out = list(rows)
    for src in rng.sample(range(len(rows)), min(count, len(rows))):
        row = rows[src]
        at = out.index(row) + 1 + rng.randrange(len(out) - out.index(row))
        out.insert(at, list(row))
    return out


def write_customers(
    landing_dir: Path, rng: random.Random, n: int
) -> tuple[list[GeneratedFile], list[Customer]]:
    """Write the two daily CRM exports: a full export, then new signups plus changed customers.

    Args:
        landing_dir: Root of the landing zone.
        rng: The random stream to draw from.
        n: Number of distinct customers.

    Returns:
        The files written, and the latest version of every customer ordered by id.
    """
    customers = build_customers(rng, n)
    n_new = max(1, n // 4)
    old, new = customers[: n - n_new], customers[n - n_new :]
    taken = {c.email for c in customers}
    changed_idx = sorted(rng.sample(range(len(old)), max(1, round(n * 0.1))))
    latest = list(customers)
    for i in changed_idx:
        latest[i] = _changed(rng, old[i], taken)
    second = sorted([latest[i] for i in changed_idx] + new, key=lambda c: c.customer_id)

    out_dir = landing_dir / "customers"
    files = []
    for day, batch, dups, note in [
        (EXPORT_DAYS[0], old, 2, "duplicates,nulls"),
        (EXPORT_DAYS[1], second, 1, "duplicates,nulls,later_versions"),
    ]:
        rows = _with_duplicates(rng, [c.row() for c in batch], dups)
        path = out_dir / f"customers_{day.isoformat()}.csv"
        write_bytes(path, csv_bytes(CUSTOMER_COLUMNS, rows))
        files.append(GeneratedFile(path.resolve(), "customers", len(rows), note))
    return files, latest
