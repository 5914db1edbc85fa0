"""Cards render to self-contained HTML and to markdown, with every value escaped."""

from __future__ import annotations

from html.parser import HTMLParser

import pyarrow as pa

from dagster_project.cards.content import Card, Section, Text, profile_section
from dagster_project.cards.profile import profile_table
from dagster_project.cards.render import to_html, to_markdown
from dagster_project.lakehouse.tables import open_catalog
from tests.cards.helpers import iceberg_table

SCRIPT = "<script>alert('x')</script>"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):  # noqa: ANN001
        self.tags.append(tag)
        self.links += [v for k, v in attrs if k in ("href", "src") and v]

    def handle_data(self, data):  # noqa: ANN001
        self.text.append(data)


def _card(settings) -> Card:
    data = pa.table({"label": [SCRIPT] * 3 + ["plain | pipe"] * 2})
    profile = profile_table(settings, iceberg_table(open_catalog(settings), "test.labels", data))
    return Card(
        "test.labels",
        "One row per label.",
        [("Owner", "team:<b>x</b>")],
        [Section("About", [Text(f"Values such as {SCRIPT} stay text.")]), profile_section(profile, {})],
        profile.snapshot_id,
        profile.rows,
    )


def test_html_is_one_self_contained_page_that_escapes_values(settings):
    page = _Page()
    page.feed(to_html(_card(settings)))
    page.close()
    assert "script" not in page.tags and "b" not in page.tags
    assert not page.links, "no external assets"
    assert {"html", "style", "table", "h1", "h2"} <= set(page.tags)
    text = "".join(page.text)
    assert SCRIPT in text and "team:<b>x</b>" in text  # shown as text, not run as markup
    assert "label" in text and "60%" in text  # the category and its share of the non-null values


def test_markdown_escapes_markup_and_table_pipes(settings):
    markdown = to_markdown(_card(settings))
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    assert "plain \\| pipe" in markdown
    assert markdown.startswith("# Data card: test.labels")
