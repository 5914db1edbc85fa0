"""Governed search: `--as PERSONA` decides which documents and fields a persona sees; every search is audited.

The chunk table is written straight into Iceberg (tests/documents/search_corpus.py) and searched
with the bag-of-words fake embedder: no pipeline run, no model.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest

from dagster_project.cli import main as cli_main
from dagster_project.documents.scope import _pattern
from dagster_project.governance.policy import IdentityNotAllowed, PolicyError, QueryDenied, load_policies
from dagster_project.governance.search import search_as
from dagster_project.lakehouse.ops_tables.audit import read_audit_log
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings
from tests.documents.search_corpus import corpus_rows, write_chunks

FAKE = "tests.documents.fakes:bag_of_words"
PERSONAS = """
version: 1
personas:
  engineer:
    description: Everything.
    identities: ["*"]
    tables: ["*.*"]
  analyst:
    description: Chunks without the document metadata.
    identities: ["*"]
    tables: ["curated.*"]
    columns:
      "curated.document*":
        metadata: deny
  customer_desk:
    description: The public documents only.
    identities: ["*"]
    tables: [curated.document_chunks]
    search:
      sources: ["documents/public/*"]
  customers_only:
    description: Documents whose sidecar says they are for customers.
    identities: ["*"]
    tables: [curated.document_chunks]
    search:
      attributes: {audience: [customers]}
  markdown_only:
    description: Markdown documents only.
    identities: ["*"]
    tables: [curated.document_chunks]
    search:
      media_types: ["text/markdown"]
  vip:
    description: Only alice may act as it.
    identities: [alice]
    tables: ["*.*"]
  orders_only:
    description: No documents at all.
    identities: ["*"]
    tables: [curated.orders]
"""


@pytest.fixture
def governed(tmp_path: Path) -> Settings:
    personas = tmp_path / "personas.yml"
    personas.write_text(PERSONAS, encoding="utf-8")
    settings = Settings.for_data_dir(tmp_path / "data", embedder=FAKE, personas_file=personas)
    write_chunks(settings, corpus_rows(copies=2))
    return settings


def _searches(settings: Settings) -> list[dict]:
    rows = read_audit_log(open_catalog(settings)).to_pylist()
    return [r for r in rows if r["action"].startswith("search")]


def test_analyst_json_has_no_metadata_and_cannot_filter_on_it(governed, monkeypatch, capsys):
    # The shipped personas file: its analyst is denied curated.document* metadata.
    monkeypatch.setenv("FOUNDATION_DATA_DIR", str(governed.data_dir))
    monkeypatch.setenv("FOUNDATION_EMBEDDER", FAKE)
    assert cli_main(["search", "--as", "analyst", "refund item", "-k", "3", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 3 and all("metadata" not in h and h["withheld"] == ["metadata"] for h in hits)
    assert "audience" not in json.dumps(hits)
    assert cli_main(["search", "--as", "data_engineer", "refund item", "-k", "3", "--json"]) == 0
    assert all(h["metadata"]["audience"] for h in json.loads(capsys.readouterr().out))
    # A filter on a sidecar attribute would answer questions about the metadata: refused.
    assert cli_main(["search", "--as", "analyst", "refund", "--where", "audience=staff"]) == 3
    assert "denied: persona 'analyst' may not read document metadata" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("customer_desk", lambda h: h.citation.source_file.startswith("documents/public/")),
        ("customers_only", lambda h: h.metadata["audience"] == "customers"),
        ("markdown_only", lambda h: h.citation.source_file.endswith(".md")),
    ],
)
def test_a_restricted_persona_never_sees_other_documents(governed, persona, allowed):
    # k covers the whole corpus: every chunk the persona may see, none it may not.
    hits = search_as(governed, persona, "returns refund item warranty shipping", k=50)
    assert len(hits) == 8 and all(allowed(h) for h in hits)
    everything = search_as(governed, "engineer", "returns refund item warranty shipping", k=50)
    assert len(everything) == 16


def test_a_denied_identity_or_persona_is_refused_and_audited(governed):
    with pytest.raises(IdentityNotAllowed, match="may not act as persona 'vip'"):
        search_as(governed, "vip", "refund", identity="mallory")
    assert search_as(governed, "vip", "refund", identity="alice")
    with pytest.raises(QueryDenied, match="may not read curated.document_chunks"):
        search_as(governed, "orders_only", "refund")
    outcomes = [(r["action"], r["actor"], r["persona"], r["outcome"]) for r in _searches(governed)]
    assert sorted(outcomes) == sorted(
        [
            ("search_denied", "mallory", "vip", "denied"),
            ("search", "alice", "vip", "ok"),
            ("search_denied", governed_actor(), "orders_only", "denied"),
        ]
    )


def governed_actor() -> str:
    from dagster_project.identity import os_account

    return os_account()


def test_each_search_appends_one_audit_row_without_the_question(governed):
    question = "my card 4111 1111 1111 1111 was charged twice, refund item"
    hits = search_as(governed, "customer_desk", question, k=3, where={"media_type": "text/markdown"})
    search_as(governed, "engineer", "shipping", k=2)
    rows = _searches(governed)
    assert len(rows) == 2
    row = next(r for r in rows if r["persona"] == "customer_desk")
    assert question not in json.dumps(row, default=str) and "4111" not in json.dumps(row, default=str)
    statement = json.loads(row["statement"])
    assert statement["question_chars"] == len(question) and len(statement["question_sha256"]) == 64
    assert statement["k"] == 3 and statement["where"] == {"media_type": "text/markdown"}
    assert statement["chunk_ids"] == [h.citation.chunk_id for h in hits] and row["rows"] == len(hits)
    assert json.loads(row["tables"]) == ["curated.document_chunks"]
    assert json.loads(row["snapshot_ids"])["curated.document_chunks"] is not None


def test_search_rules_are_validated(tmp_path):
    bad = tmp_path / "personas.yml"
    bad.write_text(PERSONAS.replace("documents/public/*", "documents/it's/*"), encoding="utf-8")
    with pytest.raises(PolicyError, match="customer_desk"):
        load_policies(bad)
    bad.write_text(PERSONAS.replace("media_types:", "media_type:"), encoding="utf-8")
    with pytest.raises(PolicyError, match="unknown key"):
        load_policies(bad)


@pytest.mark.parametrize(
    "pattern", ["documents/public/*", "documents/*.md", "documents/?.txt", "docs/a+b_c-d=e@f,g:h/*"]
)
def test_source_patterns_match_as_shell_patterns(pattern):
    names = ["documents/public/0.md", "documents/public/x/y.md", "documents/1.txt", "documents/10.txt"]
    names += ["documents/a.md", "documentsXa.md", "docs/a+b_c-d=e@f,g:h/x", "docs/aab_c-d=e@f,g:h/x"]
    regex = re.compile(_pattern(pattern))
    assert [bool(regex.match(n)) for n in names] == [fnmatch.fnmatchcase(n, pattern) for n in names]
