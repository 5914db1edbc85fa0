"""Curation: boilerplate goes, PII becomes typed placeholders with counts, quality problems get a reason."""

from __future__ import annotations

from dagster_project.documents.curate import QualityThresholds, normalise, quality_issues, redact


def test_redaction_replaces_each_kind_with_a_typed_placeholder_and_counts_it():
    text = (
        "Mail ada@example.com or bob.smith@kestrelhome.example. Call +44 20 7946 0817 or 020 7946 0958. "
        "Card 4111 1111 1111 1111, SSN 123-45-6789, NI number AB 12 34 56 C."
    )
    redacted, counts = redact(text)
    assert counts == {"EMAIL": 2, "PHONE": 2, "CARD_NUMBER": 1, "NATIONAL_ID": 2}
    for placeholder in ("[EMAIL]", "[PHONE]", "[CARD_NUMBER]", "[NATIONAL_ID]"):
        assert placeholder in redacted
    assert "@" not in redacted and "4111" not in redacted and "6789" not in redacted


def test_redaction_leaves_prices_times_dates_and_non_luhn_numbers_alone():
    text = "Open 08:00 to 18:00, EUR 2,000 limit, since 2026-11-01, order 4111 1111 1111 1112, LS1 0AA."
    assert redact(text) == (text, {})


def test_normalise_removes_page_furniture_and_repeated_running_lines():
    text = "# Title\n\nBody one.\nKestrel Home confidential\nPage 1 of 3\n\n\n\nBody two.\n" * 1
    text += "Kestrel Home confidential\nPage 2 of 3\nBody three.\nKestrel Home confidential\n"
    normalised, removed = normalise(text)
    assert "Page 1 of 3" not in normalised and "confidential" not in normalised
    assert removed == 5
    assert "\n\n\n" not in normalised
    assert normalised.startswith("# Title")


def test_quality_filters_record_why():
    thresholds = QualityThresholds()
    assert quality_issues("Short note.", thresholds)[0].startswith("too_short")
    numbers = " ".join(str(n) * 3 for n in range(200))
    assert any(i.startswith("mostly_non_text") for i in quality_issues(numbers, thresholds))
    spam = "\n".join(["Buy now and save big on everything today"] * 10)
    assert any(i.startswith("repeated_lines") for i in quality_issues(spam, thresholds))
    article = " ".join(f"The warehouse ships parcel number {n} to customers." for n in range(10))
    assert quality_issues(article, thresholds) == []
