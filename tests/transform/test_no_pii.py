"""No PII leaks into staging or curated: every text column of every table is scanned after the demo."""

from __future__ import annotations

import re

import pyarrow as pa

from dagster_project.lakehouse.tables import open_catalog
from tests.transform.conftest import model_table_names

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# A phone is a token of its own: not part of an id such as a UUID or a hash.
PHONE = re.compile(r"(?<![\w-])\+?\d[\d ().-]{7,}\d(?![\w-])")
CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def _raw_pii_values(catalog) -> set[str]:
    """Every PII value of the sample data: customers' names, emails and phones, and contacts in tickets."""
    customers = catalog.load_table("raw.customers").scan().to_arrow()
    values = set()
    for column in ("first_name", "last_name", "email", "phone"):
        values |= {v for v in customers[column].to_pylist() if v}
    tickets = catalog.load_table("raw.support_tickets").scan().to_arrow()
    for text in tickets["subject"].to_pylist() + tickets["body"].to_pylist():
        values |= set(EMAIL.findall(text or "")) | set(PHONE.findall(text or ""))
    return values


def test_no_staging_or_curated_column_holds_an_email_a_phone_or_a_raw_pii_value(sample_built):
    catalog = open_catalog(sample_built.settings)
    pii = _raw_pii_values(catalog)
    assert len(pii) > 500, "the sample data should carry plenty of PII to look for"
    words = re.compile(
        r"(?<!\w)(" + "|".join(sorted(map(re.escape, pii), key=len, reverse=True)) + r")(?!\w)"
    )
    leaks = []
    scanned = 0
    for name in model_table_names():
        rows = catalog.load_table(name).scan().to_arrow()
        assert rows.num_rows > 0, f"{name} is empty: nothing was scanned"
        for field in rows.schema:
            if not pa.types.is_string(field.type) and not pa.types.is_large_string(field.type):
                continue
            for value in rows[field.name].to_pylist():
                if value is None:
                    continue
                scanned += 1
                for pattern, kind in (
                    (EMAIL, "email"),
                    (PHONE, "phone"),
                    (CARD, "card"),
                    (words, "raw PII value"),
                ):
                    match = pattern.search(value)
                    if match:
                        leaks.append(f"{name}.{field.name}: {kind} {match.group(0)!r}")
    assert scanned > 10_000
    assert not leaks, f"{len(leaks)} leak(s), first: {leaks[:5]}"


def test_masking_keeps_what_features_need(sample_built):
    catalog = open_catalog(sample_built.settings)
    customers = catalog.load_table("staging.stg_customers").scan().to_arrow().to_pylist()
    versions = catalog.load_table("raw.customers").scan().to_arrow().to_pylist()
    # The latest landed version of each customer is the one staging keeps.
    raw = {r["customer_id"]: r for r in sorted(versions, key=lambda r: r["_ingested_at"])}
    for row in customers[:50]:
        source = raw[row["customer_id"]]
        if source["email"]:
            assert row["email_domain"] == source["email"].split("@")[1].lower()
            assert re.fullmatch(r"[0-9a-f]{64}", row["email_hash"])
        if source["first_name"] and source["last_name"]:
            assert row["customer_initials"] == f"{source['first_name'][0]}.{source['last_name'][0]}.".upper()
        if source["phone"]:
            assert row["phone_last_digits"] == re.sub(r"\D", "", source["phone"])[-2:]
    # Same address, same hash: the hash still joins.
    hashes = [r["email_hash"] for r in customers if r["email_hash"]]
    assert len(set(hashes)) == len(hashes)
