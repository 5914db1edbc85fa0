"""Extraction: each format becomes light markdown with its title; bad files are rejected with a reason."""

from __future__ import annotations

import pytest

from dagster_project.documents.curate import normalise
from dagster_project.documents.extract import DocumentRejected, extract, read_sidecar


def test_every_sample_format_keeps_its_title_and_headings(knowledge_base):
    for name, title, heading in (
        ("shipping.md", "Shipping and delivery", "## Delivery options"),
        ("payments.html", "Payments", "## Paying in instalments"),
        ("account.txt", "Your account", "## Signing in"),
        ("privacy_policy.pdf", "Privacy policy", "## Your rights"),
    ):
        extracted = extract(knowledge_base / name, f"documents/{name}")
        assert extracted.title == title, name
        assert heading in extracted.text.splitlines(), name


def test_html_page_chrome_is_removed_and_reported(knowledge_base):
    extracted = extract(knowledge_base / "payments.html", "documents/payments.html")
    assert "My account" not in extracted.text and "Cookie settings" not in extracted.text
    assert any("page chrome" in w for w in extracted.warnings)


def test_pdf_text_is_read_across_pages_in_order(knowledge_base):
    text = extract(knowledge_base / "privacy_policy.pdf", "documents/privacy_policy.pdf").text
    assert text.index("## Data we collect") < text.index("## How long we keep it") < text.index("## Contact")
    assert "We never sell personal data." in text


def test_pdf_pages_are_marked_for_curation_and_the_marks_do_not_reach_curated_text(knowledge_base):
    text = extract(knowledge_base / "privacy_policy.pdf", "documents/privacy_policy.pdf").text
    assert text.count("\f") == 1  # two pages
    curated, removed = normalise(text)
    assert "\f" not in curated and "Page 1 of 2" not in curated and removed == 2
    assert "\n\n## How long we keep it" in curated


def test_latin1_text_is_decoded_with_a_warning(tmp_path):
    path = tmp_path / "note.txt"
    path.write_bytes("Café opening hours are 9 to 5 every day of the week.".encode("cp1252"))
    extracted = extract(path, "documents/note.txt")
    assert "Café" in extracted.text
    assert any("UTF-8" in w for w in extracted.warnings)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage", "unreadable"),
        ("fake.pdf", b"just text, not a PDF", "unreadable"),
        ("blob.txt", b"\x00\x01\x02binary", "unreadable"),
        ("blank.md", b"   \n\n  ", "empty"),
        ("slides.pptx", b"PK\x03\x04", "unsupported_format"),
    ],
)
def test_unreadable_documents_are_rejected_with_a_reason_naming_the_file(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentRejected) as info:
        extract(path, f"documents/{name}")
    assert info.value.reason == reason
    assert f"documents/{name}" in info.value.message


def test_sidecar_attributes_in_bedrock_layout_or_flat(tmp_path):
    path = tmp_path / "a.md.metadata.json"
    path.write_text('{"metadataAttributes": {"department": "legal", "year": 2026}}')
    assert read_sidecar(path, "documents/a.md") == {"department": "legal", "year": "2026"}
    path.write_text('{"department": "legal"}')
    assert read_sidecar(path, "documents/a.md") == {"department": "legal"}
    path.write_text("{not json")
    with pytest.raises(DocumentRejected, match="a.md.metadata.json"):
        read_sidecar(path, "documents/a.md")
