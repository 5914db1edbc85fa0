"""Text extraction: markdown, HTML, plain text and PDF become light markdown (`#` headings, paragraphs).

Every format ends up in the same shape so that chunking sees headings the same way whatever the
source: `# Title`, `## Section`, paragraphs separated by blank lines, `- ` list items.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from dagster_project.documents.html import html_to_markdown
from dagster_project.ingest.sources import FileRejected, environment_failure

MEDIA_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
}
SIDECAR_SUFFIX = ".metadata.json"

MAX_SIDECAR_BYTES = 1 << 20


class DocumentRejected(FileRejected):
    """A landed document cannot be read; it goes to quarantine with this reason."""

    def __init__(self, reason: str, message: str):
        super().__init__(reason, message)


@dataclass(frozen=True)
class Limits:
    """How big a document may be: its text bounds the memory of everything after extraction."""

    text_bytes: int | None = None  # FOUNDATION_MAX_DOCUMENT_TEXT_BYTES
    pages: int | None = None  # FOUNDATION_MAX_DOCUMENT_PAGES


def _too_much_text(label: str, size: int, limit: int, partial: bool = False) -> DocumentRejected:
    amount = f"more than {size:,}" if partial else f"{size:,}"
    return DocumentRejected(
        "too_large",
        f"{label}: {amount} bytes of text, more than the {limit:,} one document may have "
        "(FOUNDATION_MAX_DOCUMENT_TEXT_BYTES); split it or raise the limit",
    )


@dataclass
class Extracted:
    """A document's text in light markdown, its title and what extraction had to work around."""

    media_type: str
    title: str
    text: str
    warnings: list[str] = field(default_factory=list)


def is_sidecar(key: str) -> bool:
    return key.endswith(SIDECAR_SUFFIX)


def media_type_of(key: str) -> str | None:
    """The media type for a landing key by its extension, None when unsupported."""
    suffix = Path(key).suffix.lower()
    return MEDIA_TYPES.get(suffix)


def read_sidecar(path: Path, label: str) -> dict[str, str]:
    """Filterable attributes from a `<file>.metadata.json` sidecar (Bedrock's `metadataAttributes`).

    Raises:
        DocumentRejected: The sidecar is not JSON or not a flat mapping of attributes.
    """
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        raise DocumentRejected(
            "bad_sidecar",
            f"{label}{SIDECAR_SUFFIX}: larger than {MAX_SIDECAR_BYTES // 1024} KiB; a sidecar holds a few "
            "flat attributes",
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DocumentRejected(
            "bad_sidecar", f"{label}{SIDECAR_SUFFIX}: not valid UTF-8 JSON ({exc}); fix or remove the sidecar"
        ) from exc
    except RecursionError as exc:  # nested thousands of levels deep: never a flat attribute map
        raise DocumentRejected(
            "bad_sidecar", f"{label}{SIDECAR_SUFFIX}: JSON nested too deeply; expected flat attributes"
        ) from exc
    attributes = document.get("metadataAttributes", document) if isinstance(document, dict) else None
    if not isinstance(attributes, dict) or any(isinstance(v, dict | list) for v in attributes.values()):
        raise DocumentRejected(
            "bad_sidecar",
            f'{label}{SIDECAR_SUFFIX}: expected {{"metadataAttributes": {{"key": "value", ...}}}} with '
            "flat values; fix the sidecar",
        )
    return {str(k): str(v) for k, v in attributes.items()}


def _decode(data: bytes, label: str, warnings: list[str]) -> str:
    head = data[:8192]
    # Text saved as UTF-16 (Windows 'Unicode'), with its byte order mark or without: every other
    # byte of plain Latin text is NUL.
    halves = (head[0::2].count(0), head[1::2].count(0))
    without_mark = len(head) >= 16 and min(halves) == 0 and max(halves) > len(head) // 3
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or without_mark:
        message = f"{label}: UTF-16 text, not UTF-8; save it as UTF-8 and land it again"
        raise DocumentRejected("encoding", message)
    if b"\x00" in head:
        raise DocumentRejected("unreadable", f"{label}: binary content (NUL bytes); not a text document")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        warnings.append("not valid UTF-8: decoded as Windows-1252; re-save the file as UTF-8")
        return data.decode("cp1252", errors="replace")


def _markdown(text: str) -> tuple[str, str]:
    title = next((line[2:].strip() for line in text.splitlines() if line.startswith("# ")), "")
    return title, text


def _plain(text: str) -> tuple[str, str]:
    """Setext-style underlined headings (`===`, `---`) become `#`/`##`; bullets `*` become `-`."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line.strip() and len(underline) >= 3 and set(underline) in ({"="}, {"-"}):
            out.append(("# " if underline[0] == "=" else "## ") + line.strip())
            i += 2
            continue
        stripped = line.strip()
        out.append("- " + stripped[2:] if stripped.startswith("* ") and stripped != "* * *" else line)
        i += 1
    text = "\n".join(out)
    title = next((line[2:] for line in out if line.startswith("# ")), "")
    return title, text


def _pdf(path: Path, label: str, warnings: list[str], limits: Limits) -> tuple[str, str]:
    from pypdf import PdfReader

    runs: list[tuple[int, float, float, str]] = []  # (page, y, font size, text)
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted:
            raise DocumentRejected("unreadable", f"{label}: the PDF is encrypted; land an unencrypted copy")
        pages = len(reader.pages)
        if limits.pages is not None and pages > limits.pages:
            raise DocumentRejected(
                "too_large",
                f"{label}: {pages:,} pages, more than the {limits.pages:,} a PDF may have "
                "(FOUNDATION_MAX_DOCUMENT_PAGES); split it or raise the limit",
            )
        text_bytes = 0
        for number, page in enumerate(reader.pages):

            def visit(text, cm, tm, font, size, number=number):  # noqa: ANN001, ANN202
                if text.strip():
                    runs.append(
                        (number, round(tm[5] * cm[3] + cm[5], 1), float(size) * abs(tm[3] or 1), text)
                    )

            seen = len(runs)
            page.extract_text(visitor_text=visit)
            # Page by page: a PDF whose text is past the limit stops here, before it is all held.
            text_bytes += sum(len(run[3].encode("utf-8")) for run in runs[seen:])
            if limits.text_bytes is not None and text_bytes > limits.text_bytes:
                raise _too_much_text(label, text_bytes, limits.text_bytes, partial=number + 1 < pages)
        meta_title = (reader.metadata or {}).get("/Title") if reader.metadata else None
    except (DocumentRejected, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - on a hostile PDF pypdf raises anything; the file is at fault
        failure = environment_failure(exc, label) if isinstance(exc, OSError) else None
        if failure is not None:  # the machine's (permissions, I/O), not the file's
            raise failure from exc
        message = f"{label}: not a readable PDF ({_pdf_problem(exc)}); re-export it"
        raise DocumentRejected("unreadable", message) from exc
    if not runs:
        raise DocumentRejected(
            "no_text", f"{label}: the PDF has no extractable text (scanned?); OCR it before landing"
        )
    sizes = Counter()
    for _, _, size, text in runs:
        sizes[size] += len(text)
    body = sizes.most_common(1)[0][0]
    heading_sizes = sorted((s for s in sizes if s > body * 1.1), reverse=True)
    level = {s: min(i + 1, 6) for i, s in enumerate(heading_sizes)}
    blocks: list[str] = []
    last: tuple[int, float, float] | None = None
    for page, y, size, text in runs:
        text = " ".join(text.split())
        joined = (
            last is not None
            and last[0] == page
            and last[2] == size
            and size not in level
            and 0 < last[1] - y <= size * 1.6
            and not text.startswith("- ")
        )
        if joined:
            blocks[-1] += " " + text
        else:
            # A form feed starts each page after the first: curation finds running headers and
            # footers by page, then drops the form feeds.
            new_page = "\f" if last is not None and last[0] != page else ""
            blocks.append(new_page + ("#" * level[size] + " " if size in level else "") + text)
        last = (page, y, size)
    if meta_title is None and not heading_sizes:
        warnings.append("no headings recognised (no text larger than the body text)")
    title = (
        str(meta_title)
        if meta_title
        else next((b.lstrip("\f# ") for b in blocks if b.lstrip("\f").startswith("#")), "")
    )
    return title, "\n\n".join(blocks)


def _pdf_problem(exc: BaseException) -> str:
    """What is wrong with a PDF, in words; pypdf's own text may quote the document's content."""
    text = str(exc)
    for known, words in (
        ("Stream has ended unexpectedly", "it ends early: truncated"),
        ("Root object", "its catalog (root object) is missing: truncated or damaged"),
        ("xref", "its table of objects (xref) is damaged"),
        ("EOF marker", "it has no end-of-file marker: truncated"),
        ("trailer", "its trailer is damaged"),
    ):
        if known in text:
            return words
    return f"its structure is damaged ({type(exc).__name__})"


def extract(path: Path, label: str, limits: Limits | None = None) -> Extracted:
    """Extract a landed document's text as light markdown.

    Args:
        path: The local file.
        label: Its landing key, for messages.
        limits: The most text (and PDF pages) a document may have; none when not given.

    Returns:
        Media type, title, text and warnings.

    Raises:
        DocumentRejected: Unsupported format, binary or unparseable bytes, no text at all, or past
            the limits (`too_large`).
    """
    limits = limits or Limits()
    media_type = media_type_of(label)
    if media_type is None:
        supported = ", ".join(sorted(MEDIA_TYPES))
        raise DocumentRejected(
            "unsupported_format", f"{label}: unsupported document type; land one of {supported}"
        )
    warnings: list[str] = []
    if media_type == "application/pdf":
        with open(path, "rb") as handle:  # the head only: the rest is pypdf's to read
            head = handle.read(1024)
        if not head.lstrip().startswith(b"%PDF"):
            raise DocumentRejected("unreadable", f"{label}: named .pdf but is not a PDF; re-export it")
        title, text = _pdf(path, label, warnings, limits)
    else:
        size = path.stat().st_size  # text is about its bytes: refused before it is decoded
        if limits.text_bytes is not None and size > limits.text_bytes and media_type != "text/html":
            raise _too_much_text(label, size, limits.text_bytes)
        raw = _decode(path.read_bytes(), label, warnings)
        if media_type == "text/html":
            title, text = html_to_markdown(raw, warnings)
        elif media_type == "text/markdown":
            title, text = _markdown(raw)
        else:
            title, text = _plain(raw)
    if not re.search(r"\w", text):
        raise DocumentRejected("empty", f"{label}: no text in the document; land it with content")
    if limits.text_bytes is not None and len(text) > limits.text_bytes // 4:  # under it whatever the script
        size = len(text.encode("utf-8"))
        if size > limits.text_bytes:
            raise _too_much_text(label, size, limits.text_bytes)
    return Extracted(media_type, title or Path(label).stem.replace("_", " "), text, warnings)
