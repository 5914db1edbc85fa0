"""Clean text (issue 16, point 3): documentation and help-site pages lose their chrome, keep their content.

The pages (tests/documents/sites.py) follow six generators' templates: Sphinx / Read the Docs,
MkDocs Material, Docusaurus, a help-center article, an ASP.NET page wrapped in one `<form>`, and a
hand-written page with an unclosed `<nav>`. `make bench-clean-text` reports the same figures.
"""

from __future__ import annotations

from dagster_project.documents.chunking import ChunkingOptions, chunk_document
from dagster_project.documents.curate import redact
from dagster_project.documents.extract import extract
from tests.documents.sites import HIDDEN, measure


def test_navigation_is_in_at_most_one_percent_of_chunks_and_no_content_is_lost(tmp_path):
    figures = measure(tmp_path)
    print(figures)
    assert figures["pages"] == 48 and figures["chunks"] >= 100
    assert figures["content_lost"] == 0, figures["examples"]
    assert figures["navigation_share"] <= 0.01, figures["examples"]


def test_headings_lose_their_permalink_sign(tmp_path):
    assert measure(tmp_path)["permalink_signs"] == 0


def test_hidden_text_is_not_indexed(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(
        "<html><body><main><h1>Refunds</h1><p>Refunds reach your card within five working days.</p>"
        f'<div style="display: none">{HIDDEN[0]}</div><p hidden>{HIDDEN[1]}</p>'
        f'<span style="visibility:hidden">{HIDDEN[2]}</span></main></body></html>'
    )
    text = extract(path, "documents/page.html").text
    assert "five working days" in text
    assert not any(h in text for h in HIDDEN)


def test_content_inside_a_form_and_after_an_unclosed_nav_is_kept(tmp_path):
    path = tmp_path / "form.html"
    path.write_text(
        "<html><body><form id='aspnetForm'><h1>Delivery times</h1>"
        "<p>Standard parcels arrive in two to four working days.</p></form></body></html>"
    )
    assert "two to four working days" in extract(path, "documents/form.html").text
    path = tmp_path / "nav.html"
    path.write_text(
        "<html><body><nav><a href='/'>Home</a><h1>Delivery times</h1>"
        "<p>Express parcels arrive on the next working day."
        "<p>Orders after noon ship a day later.</body></html>"
    )
    text = extract(path, "documents/nav.html").text
    assert "next working day" in text and "ship a day later" in text


def test_an_xhtml_page_with_an_encoding_declaration_is_read(tmp_path):
    path = tmp_path / "page.xhtml.html"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
        "<title>Returns</title></head><body><h1>Returns</h1><p>Returns are free within thirty days.</p>"
        "</body></html>"
    )
    extracted = extract(path, "documents/page.xhtml.html")
    assert extracted.title == "Returns" and "free within thirty days" in extracted.text


def test_the_title_is_the_main_contents_h1_not_the_menu_bars(tmp_path):
    # mdBook (the Rust books) puts the book's name in an h1 of its menu bar, before the page's own.
    path = tmp_path / "chapter.html"
    path.write_text(
        "<html><head><title>Lints - The rustdoc book</title></head><body>"
        '<nav class="sidebar"><ol><li><a href="index.html">What is rustdoc?</a></li></ol></nav>'
        '<div id="menu-bar"><h1 class="menu-title">The rustdoc book</h1></div>'
        "<main><h1>Lints</h1><p>rustdoc provides lints to help you write documentation.</p></main>"
        "</body></html>"
    )
    extracted = extract(path, "documents/chapter.html")
    assert extracted.title == "Lints" and "provides lints" in extracted.text


def test_text_reads_as_typed_not_as_escaped_markdown(tmp_path):
    # Sphinx pages are full of identifiers, shell globs and addresses that markdown would render
    # differently; trafilatura escapes them (`LC\_ALL`), and the escapes leaked into chunks, BM25
    # and the embedder, and split an address so that redaction left `vinay\[EMAIL]` behind.
    path = tmp_path / "page.html"
    path.write_text(
        "<html><body><main><h1>Locale</h1>"
        "<p>Set LC_ALL or TIME_WAIT; mail Vinay Sajip &lt;vinay_sajip@red-dove.com&gt;; "
        r"a regex a\*b and a path C:\temp stay as written.</p>"
        "<pre>sed -e 's/[0-9]*//' file_name</pre>"
        "<pre><code>x = a_b * c  # verbatim</code></pre></main></body></html>"
    )
    text = extract(path, "documents/page.html").text
    assert "Set LC_ALL or TIME_WAIT" in text
    assert r"a regex a\*b and a path C:\temp stay as written" in text
    assert "sed -e 's/[0-9]*//' file_name" in text and "x = a_b * c  # verbatim" in text
    redacted, counts = redact(text)
    assert counts == {"EMAIL": 1} and "Vinay Sajip <[EMAIL]>" in redacted


def test_code_wrapping_inside_a_sentence_does_not_turn_the_page_into_code(tmp_path):
    # Sphinx wraps a long inline literal over two lines; trafilatura writes it as a fence opened at
    # the end of the sentence. Read line by line, its closer opened a block: the prose after it kept
    # its escapes (`scope\_id`) and a `# comment` in the next code block became the section heading.
    path = tmp_path / "socket.html"
    path.write_text(
        "<html><body><main><h1>socket</h1><h2>Socket families</h2><ul><li><p>For AF_INET6 a tuple "
        '<code class="docutils literal"><span class="pre">(host,</span> <span class="pre">port,</span>\n'
        '<span class="pre">scope_id)</span></code> is used, where <em>scope_id</em> is the scope.</p>'
        '</li></ul><pre><span class="c1"># create a raw socket</span>\ns = socket.socket()</pre>'
        "<h2>Module contents</h2><p>The module exports SO_REUSEADDR and others.</p></main></body></html>"
    )
    text = extract(path, "documents/socket.html").text
    assert "where *scope_id* is the scope" in text
    chunks = chunk_document(text, ChunkingOptions())
    assert {tuple(c.heading_path) for c in chunks} == {
        ("socket",),
        ("socket", "Socket families"),
        ("socket", "Module contents"),
    }
    assert any("SO_REUSEADDR" in c.text and c.heading_path[-1] == "Module contents" for c in chunks)
