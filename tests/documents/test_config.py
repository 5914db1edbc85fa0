"""documents.yml: chunking per source (first matching glob), and mistakes named with the fix."""

from __future__ import annotations

import pytest

from dagster_project.documents.config import DocumentsConfigError, load_documents_config
from dagster_project.documents.embed import EmbedderError, load_embedder


def test_shipped_configuration_chunks_pdfs_hierarchically_and_the_rest_by_structure(documents_config):
    assert documents_config.chunking_for("documents/privacy_policy.pdf").strategy == "hierarchical"
    assert documents_config.chunking_for("documents/shipping.md").strategy == "structure"
    assert documents_config.dataset().table == "raw.documents"


def test_sources_override_the_default_per_glob(tmp_path):
    path = tmp_path / "documents.yml"
    path.write_text(
        "landing: {prefix: docs/}\n"
        "chunking:\n"
        "  default: {strategy: structure, max_tokens: 100}\n"
        "  sources:\n"
        "    - {glob: 'policies/*', strategy: fixed, overlap_tokens: 10}\n"
    )
    config = load_documents_config(path)
    policy = config.chunking_for("docs/policies/leave.md")
    assert (policy.strategy, policy.max_tokens, policy.overlap_tokens) == ("fixed", 100, 10)
    assert config.chunking_for("docs/faq.md").strategy == "structure"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("chunking: {default: {strategy: semantic}}", "use one of fixed, structure, hierarchical"),
        ("chunking: {default: {max_tokenz: 10}}", "unknown key(s) ['max_tokenz']"),
        ("chunking: {sources: [{strategy: fixed}]}", "each source needs a 'glob'"),
        ("near_duplicate_threshold: 1.5", "near_duplicate_threshold must be in (0, 1]"),
        ("landing: {prefix: docs}", "must end with '/'"),
    ],
)
def test_mistakes_name_the_file_and_the_fix(tmp_path, text, message):
    path = tmp_path / "documents.yml"
    path.write_text(text)
    with pytest.raises(DocumentsConfigError) as info:
        load_documents_config(path)
    assert str(path) in str(info.value) and message in str(info.value)


def test_a_plugged_in_embedder_is_loaded_by_name_and_a_bad_one_is_refused():
    embedder = load_embedder("tests.documents.fakes:bag_of_words")
    assert embedder.dimension == 16 and embedder.embed(["a b", "c"]).shape == (2, 16)
    with pytest.raises(EmbedderError, match="package.module:factory"):
        load_embedder("not-a-spec")
    with pytest.raises(EmbedderError, match="cannot import"):
        load_embedder("tests.documents.fakes:missing")
