"""Governed search (`foundation search --as PERSONA`): the persona's policy applied, every search audited.

A persona searches the documents only if its `tables` include `curated.document_chunks`. Its
`search:` rules (personas.yml) choose the documents it may retrieve (landing-path patterns,
media types, sidecar attribute values), applied by the index before ranking, so a hidden
document never takes a place in the top k. A column of `curated.document_chunks` that the
persona may not read as is (`deny` or any mask: search cannot compute masks) is left out of
the hits; with `metadata` withheld, filters on sidecar attributes are refused too (their answers
would reveal the metadata).

The audit row (`ops.audit_log`, action `search`) holds the SHA-256 of the question and its
length, never its text: a question is free text and may hold personal data that the audit log,
kept long and read by auditors, must not gather. The hash still shows when the same question
came back (and lets an investigator confirm a question they already know). It is not keyed with
the PII salt, because anyone a persona admits must be able to search and audit, and the salt
file is readable by the data directory's owner only; so a short, guessable question can be
confirmed by hashing guesses, which is the price of leaving the text out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from dagster_project.documents.embed import Embedder
from dagster_project.documents.index import FILTER_COLUMNS, indexed_snapshot, search
from dagster_project.documents.scope import HIT_FIELDS, SearchHit, SearchScope
from dagster_project.documents.tables import CHUNKS_TABLE
from dagster_project.errors import FoundationError
from dagster_project.governance.policy import Persona, QueryDenied, load_policies
from dagster_project.identity import acting_as, current_identity, data_dir_owner
from dagster_project.lakehouse.ops_tables.audit import AuditEvent, record_safely
from dagster_project.settings import Settings

# Chunk columns whose rules decide hit fields; `text` also covers a child's parent text (context).
FIELD_COLUMNS = {
    "metadata": ("metadata",),
    "text": ("text", "context"),
    "title": ("title",),
    "heading_path": ("heading_path",),
}


def scope_of(persona: Persona) -> SearchScope:
    """What `persona` may retrieve: its `search:` rules, and the hit fields its column rules withhold.

    Raises:
        QueryDenied: The persona may not read `curated.document_chunks`, or has a row filter on it
            (a SQL row filter cannot be applied by the vector index: use `search:` rules).
    """
    if not persona.can_read(CHUNKS_TABLE):
        raise QueryDenied(
            f"persona {persona.name!r} may not read {CHUNKS_TABLE}, so it cannot search the documents; "
            "add the table to its tables in the personas file, or use another persona"
        )
    if persona.row_filter(CHUNKS_TABLE):
        raise QueryDenied(
            f"persona {persona.name!r} has a row filter on {CHUNKS_TABLE}, which search cannot apply; "
            "express it as the persona's search: rules (sources, media_types, attributes)"
        )
    rules = persona.column_rules(CHUNKS_TABLE)
    withheld = {f for column, fields in FIELD_COLUMNS.items() if column in rules for f in fields}
    return SearchScope(
        sources=persona.search.sources,
        media_types=persona.search.media_types,
        attributes=persona.search.attributes,
        withheld=frozenset(withheld & set(HIT_FIELDS)),
    )


def question_digest(question: str) -> str:
    """The SHA-256 of a question (hex) that the audit log keeps instead of its text."""
    return hashlib.sha256(question.encode("utf-8")).hexdigest()


def _statement(question: str, k: int, where: dict[str, str], hits: Sequence[SearchHit]) -> str:
    return json.dumps(
        {
            "question_sha256": question_digest(question),
            "question_chars": len(question),
            "k": k,
            "where": where,
            "chunk_ids": [h.citation.chunk_id for h in hits],
        },
        sort_keys=True,
    )


def search_as(
    settings: Settings,
    persona_name: str,
    question: str,
    *,
    k: int = 5,
    where: dict[str, str] | None = None,
    identity: str | None = None,
    embedder: Embedder | None = None,
) -> list[SearchHit]:
    """Search the documents as `persona_name`, and record the search in `ops.audit_log` (refusals too).

    Args:
        settings: Catalog, index and personas file.
        persona_name: A persona of the personas file.
        question: Free text (the audit log keeps its SHA-256 and length only).
        k: How many chunks.
        where: Filters as `documents.index.search` takes them.
        identity: Who asks, when a service authenticated them; default: the OS account. The
            persona's `identities` must allow it.
        embedder: The embedder the chunks were embedded with (default: the configured one).

    Returns:
        The hits, best first, without the fields the persona may not see.

    Raises:
        FoundationError: Denied (`QueryDenied`, `IdentityNotAllowed`), an unknown persona, a
            malformed filter, or no index yet; recorded either way.
    """
    if identity is not None:
        with acting_as(identity):
            return search_as(settings, persona_name, question, k=k, where=where, embedder=embedder)
    where = dict(where or {})
    hits: list[SearchHit] = []
    try:
        persona = load_policies(settings.personas_file).persona(persona_name)
        persona.check_identity(current_identity(), data_dir_owner(settings))
        scope = scope_of(persona)
        _check_filters(persona, scope, where)
        hits = search(settings, question, k=k, where=where, embedder=embedder, scope=scope)
    except Exception as exc:
        action, outcome = (
            ("search_denied", "denied")
            if isinstance(exc, QueryDenied)
            else ("search_rejected", "refused")
            if isinstance(exc, FoundationError)
            else ("search_failed", "error")
        )
        message = str(exc) if isinstance(exc, FoundationError) else f"internal error ({type(exc).__name__})"
        _audit(settings, action, persona_name, _statement(question, k, where, []), 0, outcome, message)
        raise
    _audit(settings, "search", persona.name, _statement(question, k, where, hits), len(hits))
    return hits


def _check_filters(persona: Persona, scope: SearchScope, where: dict[str, str]) -> None:
    """Refuse filters on withheld fields: which chunks they return would reveal the values."""
    hidden = sorted(
        key
        for key in where
        if (key not in FILTER_COLUMNS and "metadata" in scope.withheld) or key in scope.withheld
    )
    if hidden:
        allowed = ", ".join(c for c in FILTER_COLUMNS if c not in scope.withheld)
        raise QueryDenied(
            f"persona {persona.name!r} may not read document metadata, so it cannot filter on "
            f"{', '.join(hidden)}; filter on {allowed} only"
            if "metadata" in scope.withheld
            else f"persona {persona.name!r} may not read {', '.join(hidden)}, so it cannot filter on it"
        )


def _audit(
    settings: Settings,
    action: str,
    persona: str,
    statement: str,
    rows: int,
    outcome: str = "ok",
    message: str = "",
) -> None:
    snapshot = indexed_snapshot(settings)
    event = AuditEvent(
        action,
        [CHUNKS_TABLE],
        {CHUNKS_TABLE: snapshot},
        persona=persona,
        statement=statement,
        rows=rows,
        outcome=outcome,
        message=message,
    )
    record_safely(settings, [event])
