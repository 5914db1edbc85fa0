"""What one search may return: a persona's documents (a filter the index applies) and fields it may see.

`governance/search.py` builds a `SearchScope` from a persona's policy; the document layer applies
it without knowing about personas (layers point down). A hit and its citation are declared here,
below `index.py`, which returns them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

# Hit fields a scope may withhold (a persona's column rules on curated.document_chunks).
HIT_FIELDS = ("metadata", "text", "context", "title", "heading_path")


@dataclass(frozen=True)
class Citation:
    """Where a retrieved chunk comes from."""

    source_file: str  # landing key, e.g. documents/shipping.md
    title: str
    heading_path: list[str]
    position: int
    document_id: str
    chunk_id: str

    def __str__(self) -> str:
        heading = " > ".join(self.heading_path) or self.title
        return f"{self.source_file} § {heading} (chunk {self.position})"


@dataclass(frozen=True)
class SearchHit:
    """One retrieved chunk: score, text, citation and (for a child) its parent's text.

    The score is the cosine similarity in vector mode, the fused rank score in hybrid mode (see
    `retrieve.retrieve`); both are at most 1 and fall as the list goes down.
    """

    score: float
    text: str
    citation: Citation
    context: str | None = None
    metadata: dict[str, str] | None = None
    withheld: tuple[str, ...] = ()  # fields the persona may not see, left empty


@dataclass(frozen=True)
class SearchScope:
    """What one search may return (a persona's policy): chunks of matching documents, fields not withheld.

    Empty tuples and mappings restrict nothing. `sources` and `media_types` are shell patterns
    (`documents/kb/*`, `text/*`); `attributes` maps a sidecar key to its allowed values.
    """

    sources: tuple[str, ...] = ()
    media_types: tuple[str, ...] = ()
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    withheld: frozenset[str] = frozenset()


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _pattern(glob: str) -> str:
    """A shell pattern (fnmatch: `*` and `?` also match `/`) as an anchored regular expression."""
    return "^" + "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob) + "$"


def scope_filter(scope: SearchScope) -> list[str]:
    """The scope as conditions of the index's filter language (DataFusion SQL), to be AND-ed."""
    clauses = []
    for column, patterns in (("path", scope.sources), ("media_type", scope.media_types)):
        if patterns:
            clauses.append(
                "(" + " OR ".join(f"regexp_like({column}, {_quoted(_pattern(p))})" for p in patterns) + ")"
            )
    for key, values in sorted(scope.attributes.items()):
        pairs = ", ".join(_quoted(f"{key}={v}") for v in values)
        clauses.append(f"array_has_any(attributes, [{pairs}])")
    return clauses


def withhold(hit: SearchHit, fields: frozenset[str]) -> SearchHit:
    """The hit with `fields` emptied and named in its `withheld`."""
    citation = hit.citation
    if "title" in fields or "heading_path" in fields:
        citation = replace(
            citation,
            title="" if "title" in fields else citation.title,
            heading_path=[] if "heading_path" in fields else citation.heading_path,
        )
    return replace(
        hit,
        text="" if "text" in fields else hit.text,
        context=None if "context" in fields else hit.context,
        metadata=None if "metadata" in fields else hit.metadata,
        citation=citation,
        withheld=tuple(f for f in HIT_FIELDS if f in fields),
    )
