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


def test_normalise_removes_page_furniture_and_running_lines_of_paginated_text():
    # Pages separated by form feeds, as PDF extraction leaves them: a header and a footer on each.
    pages = [
        f"Kestrel Home confidential\n{body}\n\n\n\nPage {n} of 3\n"
        for n, body in enumerate(["# Title\n\nBody one.", "Body two.", "Body three."], start=1)
    ]
    normalised, removed = normalise("\f".join(pages))
    assert "Page 1 of 3" not in normalised and "confidential" not in normalised
    assert removed == 6
    assert "\n\n\n" not in normalised and "\f" not in normalised
    assert normalised == "# Title\n\nBody one.\n\nBody two.\n\nBody three."


def test_running_lines_are_only_those_on_most_pages_edges():
    # A line at the top of one page in four, or in the middle of pages, is content.
    words = ["one", "two", "three", "four"]
    body = "\n".join(["IDL interfaces having the", "object", "attribute are listed"] * 3)
    pages = [
        f"Handbook\n## Part {n}\nAbout {w}.\n{body} {w}.\nEnd of {w}.\n{n}" for n, w in enumerate(words, 1)
    ]
    pages[0] = "Only once at the top\n" + pages[0]
    normalised, removed = normalise("\f".join(pages))
    assert "Handbook" not in normalised  # running header on every page
    assert not any(line.isdigit() for line in normalised.split("\n"))  # page numbers
    assert normalised.split("\n").count("object") == 12  # a word repeated mid-page is content
    assert "Only once at the top" in normalised and "## Part 3" in normalised
    assert removed == 8


def test_repeated_lines_of_unpaginated_text_and_code_are_kept():
    block = "```python\nimport logging\n\nlogger = logging.getLogger(__name__)\n```"
    text = "# Logging cookbook\n\n" + "\n\nAnother recipe:\n\n".join([block] * 4)
    text += "\n\nSee the object\nobject\nattribute, the object\nobject\nkeyword and\nobject\n"
    normalised, removed = normalise(text)
    assert removed == 0
    assert normalised.count("import logging") == 4 and normalised.count("```") == 8
    assert normalised.split("\n").count("object") == 3


def test_code_in_fences_keeps_its_indentation_and_is_never_furniture():
    text = (
        "# Example\n\n  Some   text.  \n\n~~~~\ndef main():\n    if True:  \n        return 1\n\n\n"
        "Page 1 of 2\n---\n~~~~\n"
    )
    normalised, removed = normalise(text)
    assert removed == 0
    assert normalised == (
        "# Example\n\nSome text.\n\n~~~~\ndef main():\n    if True:\n        return 1\n\n\n"
        "Page 1 of 2\n---\n~~~~"
    )


def test_quality_filters_record_why():
    thresholds = QualityThresholds()
    assert quality_issues("Short note.", thresholds)[0].startswith("too_short")
    numbers = " ".join(str(n) * 3 for n in range(200))
    assert any(i.startswith("mostly_non_text") for i in quality_issues(numbers, thresholds))
    spam = "\n".join(["Buy now and save big on everything today"] * 10)
    assert any(i.startswith("repeated_lines") for i in quality_issues(spam, thresholds))
    article = " ".join(f"The warehouse ships parcel number {n} to customers." for n in range(10))
    assert quality_issues(article, thresholds) == []
