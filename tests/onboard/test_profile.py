"""Value classes and their join: what `sources add` declares for a column of landed text."""

from dagster_project.onboard.profile import (
    ColumnProfile,
    classify_text,
    decimal_comma,
    join,
    null_markers,
    pii_kind,
)


def _type(*values: str, comma: bool = False) -> str:
    profile = ColumnProfile("c", "c")
    for value in values:
        profile.observe(value, classify_text(value, comma))
    return profile.type


def test_types_widen_to_the_narrowest_type_every_value_fits():
    assert _type("1", "22") == "long"
    assert _type("1", "2.50") == "decimal(18,2)"
    assert _type("1.5", "2.25") == "double"  # mixed scales: not a fixed-point amount
    assert _type("1", "1e3") == "double"
    assert _type("1", "x") == "string"
    assert _type("2024-01-02", "2024-01-03 10:00:00") == "timestamp"
    assert _type("2024-01-02T10:00:00+02:00") == "timestamptz"
    assert _type("31/12/2024", "01/02/2024") == "date"
    assert _type("true", "no") == "boolean"
    assert _type("01234", "75001") == "string"  # zip codes keep their leading zeros
    assert _type("12,5", "3", comma=True) == "decimal(18,1)"
    assert join(None, classify_text("7")).kind == "long"


def test_a_word_is_a_null_marker_only_where_it_stands_in_a_typed_column():
    sample = {"country": ["FR", "NA", "DE"], "amount": ["1.5", "NA", "2"]}
    assert null_markers(sample) == ["", "NA"]
    assert null_markers({"country": ["FR", "NA", "DE"]}) == [""]  # Namibia
    assert decimal_comma({"amount": ["1,5", "2", "NA"]}, ";") is True
    assert decimal_comma({"amount": ["1,5", "2"]}, ",") is False


def test_dates_with_month_names_are_dates_in_a_format_the_ingest_reads():
    profile = ColumnProfile("date", "date")
    for value in ("Jan 1 2000", "Feb 1 2000", "Dec 31 2009"):
        profile.observe(value, classify_text(value))
    assert profile.type == "date" and profile.formats == ("%b %d %Y",)
    assert classify_text("1 Mar 2020").formats == ("%d %b %Y",)
    assert classify_text("March 3, 2020").formats == ("%B %d, %Y",)
    assert classify_text("Mary 12 2000").kind == "string"


def test_text_pii_kinds_are_guessed_for_text_columns_only():
    def kind(name: str, *values: str) -> str | None:
        profile = ColumnProfile(name, name)
        for value in values:
            profile.observe(value, classify_text(value))
        return pii_kind(profile)

    assert kind("body_mass_g", "3750", "3800") is None  # a number named like a message body
    assert kind("body", "Dear all", "Hello") == "free_text"
    assert kind("email_sent_on", "2024-01-02") is None
    assert kind("contact_email", "a@example.org") == "email"
    assert kind("phone", "0612345678", "0698765432") == "phone"  # a number, still a phone number
