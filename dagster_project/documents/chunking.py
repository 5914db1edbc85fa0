"""Chunking: fixed token windows with overlap, heading-aware sections, and parent/child hierarchies."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from blake3 import blake3

from dagster_project.documents.fences import TEXT, line_kinds
from dagster_project.errors import FoundationError

STRATEGIES = ("fixed", "structure", "hierarchical")
_TOKEN = re.compile(r"\w+|[^\w\s]")
_HEADING = re.compile(r"^(#{1,6}) +(.+?)\s*#*$")


class ChunkingError(FoundationError, ValueError):
    """Chunking options that cannot work; the message says which and what to use."""


@dataclass(frozen=True)
class ChunkingOptions:
    """How a document is cut.

    `fixed`: windows of `max_tokens` tokens, `overlap_tokens` shared with the previous window.
    `structure`: one chunk per heading section (heading path kept), long sections cut as `fixed`.
    `hierarchical`: `structure` sections of up to `parent_tokens` as parents, each cut into `fixed`
    children that point at their parent; children are embedded, parents give context. A section
    that fits in one child stays a single flat chunk.
    """

    strategy: str = "structure"
    max_tokens: int = 160
    overlap_tokens: int = 24
    parent_tokens: int = 480

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ChunkingError(f"chunking strategy {self.strategy!r}: use one of {', '.join(STRATEGIES)}")
        if self.max_tokens < 8:
            raise ChunkingError(f"max_tokens={self.max_tokens}: use at least 8")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise ChunkingError(
                f"overlap_tokens={self.overlap_tokens}: use 0 or more, below max_tokens ({self.max_tokens})"
            )
        if self.strategy == "hierarchical" and self.parent_tokens < self.max_tokens:
            raise ChunkingError(f"parent_tokens={self.parent_tokens}: must be at least max_tokens")

    def fingerprint(self) -> str:
        return f"{self.strategy}:{self.max_tokens}:{self.overlap_tokens}:{self.parent_tokens}"


@dataclass
class Chunk:
    """One piece of a document; `level` is `chunk` (flat), `parent` or `child`."""

    position: int
    heading_path: list[str]
    text: str
    token_count: int
    level: str = "chunk"
    parent_position: int | None = None
    children: list[int] = field(default_factory=list)

    @property
    def embedded(self) -> bool:
        """Whether the chunk is embedded and searchable (parents are context only)."""
        return self.level != "parent"


def count_tokens(text: str) -> int:
    """Word and punctuation tokens (a model's word pieces are typically 1.0-1.3 times as many)."""
    return len(_TOKEN.findall(text))


def chunk_id(document_id: str, position: int, text: str) -> str:
    """Stable id: the same document, position and text always give the same id."""
    return blake3(f"{document_id}\x00{position}\x00{text}".encode()).hexdigest()[:32]


def _windows(text: str, max_tokens: int, overlap: int) -> list[str]:
    spans = [m.span() for m in _TOKEN.finditer(text)]
    if not spans:
        return []
    out = []
    step = max_tokens - overlap
    start = 0
    while True:
        window = spans[start : start + max_tokens]
        out.append(text[window[0][0] : window[-1][1]])
        if start + max_tokens >= len(spans):
            return out
        start += step


def _sections(text: str) -> list[tuple[list[str], str]]:
    """(heading path, text including its heading line) per heading section, in order.

    A `#` line inside a fenced code block is a comment, not a heading.
    """
    sections: list[tuple[list[str], list[str]]] = []
    path: list[tuple[int, str]] = []
    current: list[str] = []
    current_path: list[str] = []
    lines = text.split("\n")
    for line, kind in zip(lines, line_kinds(lines), strict=True):
        match = _HEADING.match(line) if kind == TEXT else None
        if match:
            if any(s.strip() for s in current):
                sections.append((current_path, current))
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, match.group(2))]
            current_path = [title for _, title in path]
            current = [line]
        else:
            current.append(line)
    if any(s.strip() for s in current):
        sections.append((current_path, current))
    return [(p, "\n".join(lines).strip()) for p, lines in sections]


def _heading_at(text: str) -> list[tuple[int, list[str]]]:
    """(character offset, heading path) where each heading section starts."""
    out, offset = [], 0
    for section_path, section in _sections(text):
        offset = text.find(section, offset)
        out.append((max(offset, 0), section_path))
    return out


def chunk_document(text: str, options: ChunkingOptions) -> list[Chunk]:
    """Cut a document's curated text into chunks.

    Args:
        text: Light markdown (`#` headings), as extraction and curation leave it.
        options: The source's chunking options.

    Returns:
        Chunks in reading order, positions 0, 1, 2, ...; for `hierarchical` each parent is
        followed by its children.
    """
    chunks: list[Chunk] = []

    def add(path: list[str], piece: str, level: str = "chunk", parent: int | None = None) -> Chunk:
        chunk = Chunk(len(chunks), list(path), piece, count_tokens(piece), level, parent)
        chunks.append(chunk)
        return chunk

    if options.strategy == "fixed":
        starts = _heading_at(text)
        offset = 0
        for piece in _windows(text, options.max_tokens, options.overlap_tokens):
            offset = text.find(piece, offset)
            path = next((p for start, p in reversed(starts) if start <= offset), [])
            add(path, piece)
        return chunks
    for path, section in _sections(text):
        if options.strategy == "structure":
            for piece in _windows(section, options.max_tokens, options.overlap_tokens):
                add(path, piece)
            continue
        for parent_text in _windows(section, options.parent_tokens, options.overlap_tokens):
            if count_tokens(parent_text) <= options.max_tokens:
                add(path, parent_text)  # fits in one child: a parent would only repeat it
                continue
            parent = add(path, parent_text, "parent")
            for piece in _windows(parent_text, options.max_tokens, options.overlap_tokens):
                parent.children.append(add(path, piece, "child", parent.position).position)
    return chunks
