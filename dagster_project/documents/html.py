"""HTML to light markdown: the page's main content through trafilatura, its chrome left out.

trafilatura finds the main content and drops navigation, sidebars, headers, footers and comment
sections. A small lxml pre-clean first fixes what it does not handle on documentation and help
sites: text hidden from readers, permalink signs on headings (`¶`), "Edit this page" links, a page
wrapped in one `<form>` (ASP.NET), and content swallowed by a `<nav>` that was never closed.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import lxml.html
from lxml import etree

from dagster_project.documents.fences import TEXT, line_kinds

# Hidden from every reader: the `hidden` attribute, or an inline style that hides it.
_HIDDEN = (
    "//*[@hidden] | //*[contains(translate(@style, ' ', ''), 'display:none')]"
    " | //*[contains(translate(@style, ' ', ''), 'visibility:hidden')]"
)
# A heading's permalink: a link into the page whose only text is a sign (Sphinx and MkDocs `¶`,
# Docusaurus a zero-width space, others `#`, `§` or a link emoji).
_PERMALINK_SIGNS = "¶§#🔗\u200b "
_PERMALINK = (
    "//a[starts-with(@href, '#')]"
    f"[string-length(translate(normalize-space(.), '{_PERMALINK_SIGNS}', '')) = 0]"
    " | //a[contains(concat(' ', @class, ' '), ' headerlink ') or contains(@class, 'hash-link')]"
)
# "Edit this page" / "Edit on GitHub" buttons that generators put inside the article.
_EDIT_LINK = (
    "//a[contains(@href, '/edit/') or contains(@href, '/blob/')]"
    "[starts-with(translate(normalize-space(.), 'EDIT', 'edit'), 'edit')]"
)
_HEAD_TAGS = {"title", "meta", "link", "script", "style", "base", "noscript", "template"}
# What a navigation block never holds: the page's own h1 or main content.
_CONTENT = "h1|main|article"
# trafilatura's rescue steps for short pages dump the whole page, navigation included, when the main
# extractor finds under MIN_EXTRACTED_SIZE characters (baseline), or let readability/justext win
# (fast=False); a short help page is still a page, and a page of navigation only has no content.


@functools.cache
def _config() -> Any:
    """trafilatura's settings, built on first use (importing trafilatura costs a definitions load)."""
    from trafilatura.settings import use_config

    config = use_config()
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "0")
    return config


_TITLE_SEPARATORS = re.compile(r"\s+[|–—-]\s+")
# trafilatura escapes CommonMark's inline characters in prose so a renderer shows them as typed
# (`LC_ALL` becomes `LC\_ALL`, `<user@host>` `\<user@host>`): a run of n backslashes before one of
# them becomes 2n + 1. Chunks are read by people, an embedder and BM25, not rendered, so the
# escapes are undone (odd runs only: what trafilatura wrote); fenced code is verbatim already.
_ESCAPED = re.compile(r"(\\+)([*_`~\[\]<])")
# Code that wraps inside a sentence (Sphinx's `(host, port, flowinfo, scope_id)`) comes out as
# "a four-tuple ```" with the closing fence on a line of its own: read line by line, that closer
# would open a block and turn the prose after it into code. The opening fence gets its own line.
_TRAILING_FENCE = re.compile(r"(?m)^(.*\S)[ \t]*(`{3,}|~{3,})[ \t]*$")


def _pre_clean(tree: lxml.html.HtmlElement) -> None:
    # A page without <body> whose first element is not a head element (a hand-written <nav> after
    # <title>) is parsed with everything inside <head>, which trafilatura skips: move it to a body.
    head = tree.find("head")
    if head is not None and tree.find("body") is None:
        body = etree.SubElement(tree, "body")
        body.extend([e for e in head if isinstance(e.tag, str) and e.tag not in _HEAD_TAGS])
    for element in tree.xpath(f"{_HIDDEN} | {_PERMALINK} | {_EDIT_LINK}"):
        element.drop_tree()  # drop_tree keeps the element's tail text (the words after it)
    # trafilatura drops every <form>; a page wrapped in one keeps its content with the tag unwrapped.
    for form in tree.xpath("//form"):
        form.drop_tag()
    # A <nav> never closed swallows the rest of the page: from its first child holding an h1, main
    # or article on, move its children back out after it.
    for nav in tree.xpath("//nav"):
        first = next((c for c in nav if c.tag in _CONTENT.split("|") or c.xpath(f".//{_CONTENT}")), None)
        if first is None or not isinstance(first.tag, str):
            continue
        moved = [first, *first.itersiblings()]
        for element in reversed(moved):
            nav.addnext(element)
    # A page that marks no main content (<main>, <article>, role=main) is read by trafilatura's
    # paragraph-only fallback, which drops the headings: the element holding the h1 is the content.
    if not tree.xpath("//main | //article | //*[@role='main']"):
        h1 = next(tree.iter("h1"), None)
        holder = h1.getparent() if h1 is not None else None
        if holder is not None and holder.tag not in ("body", "header", "nav", "footer", "aside", "a"):
            holder.tag = "main"


def _title(tree: lxml.html.HtmlElement) -> tuple[str, str]:
    """(the page's h1 text, the <title> without the site name after a separator).

    The page's h1 is the first one inside the main content where the page marks it: mdBook, for
    one, puts the book's name in an h1 of its menu bar, before the page's own.
    """
    headings = tree.xpath("(//main | //article | //*[@role='main'])//h1") or list(tree.iter("h1"))
    h1 = next((" ".join(h.text_content().split()) for h in headings), "")
    head = tree.findtext(".//title") or ""
    return h1, _TITLE_SEPARATORS.split(" ".join(head.split()))[0]


def _unescape_run(match: re.Match[str]) -> str:
    run = len(match.group(1))
    return "\\" * (run // 2) + match.group(2) if run % 2 else match.group(0)


def _unescape(markdown: str) -> str:
    """Undo trafilatura's inline markdown escapes outside fenced code blocks (each fence on its own line)."""
    lines = _TRAILING_FENCE.sub(r"\1\n\2", markdown).split("\n")
    return "\n".join(
        _ESCAPED.sub(_unescape_run, line) if kind == TEXT else line
        for line, kind in zip(lines, line_kinds(lines), strict=True)
    )


def html_to_markdown(text: str, warnings: list[str]) -> tuple[str, str]:
    """A page's title and main content as light markdown (`#` headings, paragraphs, `- ` items).

    Args:
        text: The decoded HTML.
        warnings: Gets a note of how much page chrome was removed.

    Returns:
        (title, text); text is empty when the page has no content (scripts and navigation only).
    """
    # lxml refuses a str that declares its encoding (XHTML's `<?xml ... encoding="utf-8"?>`); the
    # text is decoded already, so the declaration goes.
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text)
    try:
        tree = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):  # no element at all: nothing to extract
        return "", ""
    _pre_clean(tree)
    h1, head_title = _title(tree)
    page_words = len(" ".join(tree.xpath("//body//text()[not(ancestor::script or ancestor::style)]")).split())
    import trafilatura

    body = (
        trafilatura.extract(
            tree,
            output_format="markdown",
            include_comments=False,
            include_tables=True,
            include_formatting=True,
            favor_recall=True,
            fast=True,
            deduplicate=False,
            config=_config(),
        )
        or ""
    )
    body = _unescape(body)
    # trafilatura leaves out an h1 it takes for the page title; the chunker wants it as `# `.
    if h1 and not any(line.startswith("# ") for line in body.splitlines()):
        body = f"# {h1}\n\n{body}" if body.strip() else body
    removed = page_words - len(body.split())
    if removed > 0:
        warnings.append(f"removed {removed} words of page chrome (navigation, header, footer, hidden text)")
    return h1 or head_title, body
