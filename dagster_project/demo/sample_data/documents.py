"""Render the knowledge-base articles to markdown, HTML, plain text and PDF, plus planted duplicates."""

from __future__ import annotations

import html
import json
from pathlib import Path

from .files import GeneratedFile, write_bytes
from .kb_content import (
    ARTICLES,
    DOCUMENTS,
    EXACT_DUPLICATE,
    NEAR_DUPLICATE,
    PII_SLUGS,
    SHOP,
    SIDECARS,
)
from .pdf import pdf_bytes

Block = tuple[str, str]  # (style, text); style is "h1", "h2", "p", "li" or "hr"


def parse_article(source: str) -> list[Block]:
    """Split an article in the markdown subset into blocks, joining wrapped paragraph lines.

    Args:
        source: The article text.

    Returns:
        (style, text) blocks in reading order.
    """
    blocks: list[Block] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(("p", " ".join(para)))
            para.clear()

    for line in source.splitlines():
        if not line.strip():
            flush()
        elif line.startswith("# "):
            flush()
            blocks.append(("h1", line[2:].strip()))
        elif line.startswith("## "):
            flush()
            blocks.append(("h2", line[3:].strip()))
        elif line.strip() == "---":
            flush()
            blocks.append(("hr", ""))
        elif line.startswith("- "):
            flush()
            blocks.append(("li", line[2:].strip()))
        else:
            para.append(line.strip())
    flush()
    return blocks


def render_html(blocks: list[Block]) -> str:
    """Render blocks as a full web page, with the nav and footer boilerplate a scraper must strip.

    Args:
        blocks: Article blocks; the first h1 becomes the page title.

    Returns:
        The HTML document.
    """
    title = next((t for s, t in blocks if s == "h1"), SHOP)
    body: list[str] = []
    in_list = False
    for style, text in blocks:
        if style != "li" and in_list:
            body.append("    </ul>")
            in_list = False
        if style == "li" and not in_list:
            body.append("    <ul>")
            in_list = True
        if style == "hr":
            body.append("    <hr>")
            continue
        tag = {"h1": "h1", "h2": "h2", "p": "p", "li": "li"}[style]
        indent = "      " if style == "li" else "    "
        body.append(f"{indent}<{tag}>{html.escape(text)}</{tag}>")
    if in_list:
        body.append("    </ul>")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '  <meta charset="utf-8">',
            f"  <title>{html.escape(title)} | {SHOP}</title>",
            "</head>",
            "<body>",
            '  <nav class="site-nav">',
            '    <a href="/">Home</a> | <a href="/shop">Shop</a> | <a href="/help">Help centre</a> |',
            '    <a href="/account">My account</a> | <a href="/basket">Basket (0)</a>',
            "  </nav>",
            "  <main>",
            *body,
            "  </main>",
            '  <footer class="site-footer">',
            f"    <p>&copy; 2026 {SHOP} Ltd. All rights reserved.</p>",
            '    <p><a href="/terms">Terms</a> | <a href="/privacy">Privacy</a> | '
            '<a href="/cookies">Cookie settings</a></p>',
            "  </footer>",
            "</body>",
            "</html>",
            "",
        ]
    )


def render_text(blocks: list[Block]) -> str:
    """Render blocks as plain text with underlined headings.

    Args:
        blocks: Article blocks.

    Returns:
        The text, ending in a newline.
    """
    out: list[str] = []
    for style, text in blocks:
        if style == "h1":
            out += [text, "=" * len(text), ""]
        elif style == "h2":
            out += [text, "-" * len(text), ""]
        elif style == "li":
            out.append(f"  * {text}")
        elif style == "hr":
            out += ["* * *", ""]
        else:
            if out and out[-1].startswith("  * "):
                out.append("")
            out += [text, ""]
    return "\n".join(out).rstrip("\n") + "\n"


def render(slug_source: str, fmt: str) -> bytes:
    """Render one article source in the given file format.

    Args:
        slug_source: Article text in the markdown subset.
        fmt: "md", "html", "txt" or "pdf".

    Returns:
        The file content.
    """
    if fmt == "md":
        return slug_source.encode("utf-8")
    blocks = parse_article(slug_source)
    if fmt == "html":
        return render_html(blocks).encode("utf-8")
    if fmt == "txt":
        return render_text(blocks).encode("utf-8")
    if fmt == "pdf":
        return pdf_bytes(blocks[0][1], blocks)
    raise ValueError(f"unknown document format {fmt!r}")


def write_documents(landing_dir: Path) -> list[GeneratedFile]:
    """Write the knowledge base: every article, one exact and one near duplicate, and two sidecars.

    Args:
        landing_dir: Root of the landing zone.

    Returns:
        The files written; metadata sidecars are listed with note "metadata_sidecar".
    """
    out_dir = landing_dir / "documents"
    files: list[GeneratedFile] = []

    def emit(name: str, data: bytes, note: str) -> None:
        path = out_dir / name
        write_bytes(path, data)
        files.append(GeneratedFile(path.resolve(), "documents", 1, note))

    content: dict[str, bytes] = {}
    for slug, name, fmt in DOCUMENTS:
        content[name] = render(ARTICLES[slug], fmt)
        emit(name, content[name], "pii" if slug in PII_SLUGS else "")

    original, copy_name = EXACT_DUPLICATE
    emit(copy_name, content[original], "duplicate_document")

    slug, name, edits = NEAR_DUPLICATE
    text = ARTICLES[slug]
    for old, new in edits:
        text = text.replace(old, new)
    emit(name, text.encode("utf-8"), "near_duplicate")

    # Same layout as Amazon Bedrock knowledge-base metadata files, which ingestion tools accept as-is.
    for name, attrs in SIDECARS.items():
        sidecar = json.dumps({"metadataAttributes": attrs}, indent=2, sort_keys=True) + "\n"
        emit(f"{name}.metadata.json", sidecar.encode("utf-8"), "metadata_sidecar")
    return files
