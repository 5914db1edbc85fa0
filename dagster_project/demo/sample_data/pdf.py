"""A tiny hand-written PDF 1.4 writer: Helvetica text, uncompressed streams, exact xref offsets."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

PAGE_WIDTH, PAGE_HEIGHT = 612, 792  # US Letter in points
MARGIN = 72
# (font resource, size, wrap width in characters): Helvetica averages ~0.5 em per character.
STYLES = {"h1": ("F2", 18, 48), "h2": ("F2", 13, 66), "p": ("F1", 11, 84), "li": ("F1", 11, 80)}


def _escape(text: str) -> bytes:
    """Encode text as the body of a PDF literal string in WinAnsiEncoding."""
    raw = text.encode("cp1252", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _layout(blocks: Sequence[tuple[str, str]]) -> list[list[tuple[str, int, int, str]]]:
    """Wrap (style, text) blocks into lines and split them into pages of (font, size, y, text)."""
    pages: list[list[tuple[str, int, int, str]]] = [[]]
    y = PAGE_HEIGHT - MARGIN
    for style, text in blocks:
        if style == "hr":
            # A rule in the source is a page break in print.
            if pages[-1]:
                pages.append([])
                y = PAGE_HEIGHT - MARGIN
            continue
        font, size, width = STYLES[style]
        lines = textwrap.wrap(text, width) or [""]
        if style == "li":
            lines = ["- " + lines[0]] + ["  " + line for line in lines[1:]]
        leading = round(size * 1.4)
        # Space above headings; keep a heading on the page of its first paragraph line.
        gap = leading if style in ("h1", "h2") else 4
        need = gap + leading * (len(lines) + (2 if style == "h2" else 0))
        if y - need < MARGIN and pages[-1]:
            pages.append([])
            y = PAGE_HEIGHT - MARGIN
        elif pages[-1]:
            y -= gap
        for line in lines:
            y -= leading
            pages[-1].append((font, size, y, line))
    return pages


def _content_stream(lines: list[tuple[str, int, int, str]], page_no: int, page_count: int) -> bytes:
    out = []
    for font, size, y, text in lines:
        out.append(b"BT /%s %d Tf %d %d Td (%s) Tj ET" % (font.encode(), size, MARGIN, y, _escape(text)))
    footer = f"Page {page_no} of {page_count}"
    out.append(b"BT /F1 9 Tf %d %d Td (%s) Tj ET" % (MARGIN, MARGIN // 2, _escape(footer)))
    return b"\n".join(out) + b"\n"


def pdf_bytes(title: str, blocks: Sequence[tuple[str, str]]) -> bytes:
    """Render text blocks as a valid, uncompressed PDF 1.4 that text extractors can read.

    Args:
        title: Document title for the Info dictionary.
        blocks: (style, text) pairs in reading order; style is "h1", "h2", "p", "li",
            or "hr" for a page break.

    Returns:
        The complete PDF file. No timestamps are embedded, so the bytes are reproducible.
    """
    pages = _layout(blocks)
    n_pages = len(pages)
    # Object numbers: 1 catalog, 2 page tree, 3-4 fonts, 5 info, then a page and its content per page.
    page_ids = [6 + 2 * i for i in range(n_pages)]
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % p for p in page_ids), n_pages),
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        4: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        5: b"<< /Title (%s) /Producer (dagster_project.demo.sample_data) >>" % _escape(title),
    }
    for i, (page_id, lines) in enumerate(zip(page_ids, pages, strict=True)):
        stream = _content_stream(lines, i + 1, n_pages)
        objects[page_id] = (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] "
            b"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents %d 0 R >>"
            % (PAGE_WIDTH, PAGE_HEIGHT, page_id + 1)
        )
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)

    # The binary comment tells transfer tools the file is binary, as the spec recommends.
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (num, objects[num])
    xref_at = len(out)
    size = max(objects) + 1
    # Every xref entry is exactly 20 bytes, hence the two-character "\r\n" line end.
    out += b"xref\n0 %d\n0000000000 65535 f\r\n" % size
    for num in range(1, size):
        out += b"%010d 00000 n\r\n" % offsets[num]
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref_at)
    return bytes(out)
