"""Chunking: fixed windows with overlap, heading paths, parent/child hierarchies and stable ids."""

from __future__ import annotations

import pytest

from dagster_project.demo.sample_data.kb_content import ARTICLES
from dagster_project.documents.chunking import ChunkingError, ChunkingOptions, chunk_document, chunk_id

LONG = (
    "# Guide\n\n## Setup\n\n"
    + " ".join(f"step{i} does thing {i}." for i in range(120))
    + "\n\n## End\n\nDone."
)


def test_fixed_windows_respect_size_and_overlap():
    chunks = chunk_document(LONG, ChunkingOptions("fixed", max_tokens=40, overlap_tokens=10))
    assert len(chunks) > 5
    assert all(c.token_count <= 40 for c in chunks)
    first, second = chunks[0].text.split(), chunks[1].text.split()
    assert first[-3:] == second[:3] or set(first[-4:]) & set(second[:4])
    assert [c.position for c in chunks] == list(range(len(chunks)))


def test_structure_chunks_carry_their_heading_path():
    chunks = chunk_document(ARTICLES["shipping"], ChunkingOptions("structure", max_tokens=160))
    paths = [c.heading_path for c in chunks]
    assert ["Shipping and delivery", "Delivery options"] in paths
    assert ["Shipping and delivery", "Tracking your parcel"] in paths
    tracking = next(c for c in chunks if c.heading_path[-1] == "Tracking your parcel")
    assert tracking.text.startswith("## Tracking your parcel") and "investigation" in tracking.text


def test_hierarchical_children_point_at_parents_that_contain_them():
    options = ChunkingOptions("hierarchical", max_tokens=40, overlap_tokens=5, parent_tokens=120)
    chunks = chunk_document(LONG, options)
    parents = [c for c in chunks if c.level == "parent"]
    children = [c for c in chunks if c.level == "child"]
    assert parents and children
    for child in children:
        parent = chunks[child.parent_position]
        assert parent.level == "parent" and child.text in parent.text
        assert child.heading_path == parent.heading_path == ["Guide", "Setup"]
    assert not any(c.embedded for c in parents) and all(c.embedded for c in children)
    assert chunks[-1].level == "chunk" and chunks[-1].heading_path == ["Guide", "End"]  # small: flat


def test_chunk_ids_are_stable_and_change_with_text_or_position():
    assert chunk_id("doc.md", 0, "text") == chunk_id("doc.md", 0, "text")
    assert (
        len({chunk_id("doc.md", 0, "text"), chunk_id("doc.md", 1, "text"), chunk_id("doc.md", 0, "txt")}) == 3
    )


def test_impossible_options_fail_with_what_to_use():
    with pytest.raises(ChunkingError, match="overlap_tokens"):
        ChunkingOptions("fixed", max_tokens=20, overlap_tokens=20)
    with pytest.raises(ChunkingError, match="fixed, structure, hierarchical"):
        ChunkingOptions("semantic")


CODE_PAGE = (
    "# socket\n\nLow-level networking.\n\n## Example\n\nA raw CAN socket:\n\n"
    "```python\n# create a raw socket and bind it to the 'vcan0' interface\ns = socket.socket()\n"
    "## not a heading either\nif True:\n    s.bind(('vcan0',))\n```\n\n"
    "~~~\n# tilde fences hold code too\n```\n# still code: backticks do not close a tilde fence\n~~~\n\n"
    "## Constants\n\nSO_REUSEADDR lets a socket reuse a port.\n"
)


@pytest.mark.parametrize("strategy", ["structure", "fixed", "hierarchical"])
def test_comment_lines_in_code_fences_are_not_headings(strategy):
    options = ChunkingOptions(strategy, max_tokens=10, overlap_tokens=0, parent_tokens=40)
    chunks = chunk_document(CODE_PAGE, options)
    paths = {tuple(c.heading_path) for c in chunks}
    assert paths == {("socket",), ("socket", "Example"), ("socket", "Constants")}
    assert chunks[-1].heading_path == ["socket", "Constants"]


def test_code_blocks_keep_fences_and_indentation_in_chunks():
    chunks = chunk_document(CODE_PAGE, ChunkingOptions("structure", max_tokens=200, overlap_tokens=0))
    example = next(c for c in chunks if c.heading_path == ["socket", "Example"])
    assert "```python\n# create a raw socket" in example.text
    assert "\n    s.bind(('vcan0',))\n```" in example.text


def test_an_unclosed_fence_does_not_hide_the_headings_after_it():
    text = "# Doc\n\n```\nstray fence from extraction\n\n## Later\n\nText."
    chunks = chunk_document(text, ChunkingOptions("structure"))
    assert chunks[-1].heading_path == ["Doc", "Later"]
