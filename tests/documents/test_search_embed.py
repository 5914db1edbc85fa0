"""The numpy question encoder gives the indexing embedder's vectors (sentence-transformers, same model)."""

from __future__ import annotations

import numpy as np
import pytest

from dagster_project.documents.query_embed import MiniLMQueryEncoder, load_query_embedder

pytestmark = pytest.mark.slow  # loads sentence-transformers and torch (the `minilm` fixture)

TEXTS = [
    "how do I return an item?",
    "Wie lange dauert der Versand nach Österreich? 配送 🚚",
    "",
    "   leading and trailing spaces\tand\nnew lines   ",
    "refund " * 400,  # past the model's 256 tokens: cut as sentence-transformers cuts it
]


def test_question_vectors_equal_the_indexing_embedders(minilm):
    ours = MiniLMQueryEncoder().embed(TEXTS)
    theirs = minilm.embed(TEXTS)
    assert ours.shape == theirs.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.all(1.0 - np.sum(ours * theirs, axis=1) < 1e-5)
    assert np.abs(ours - theirs).max() < 1e-5


def test_the_default_embedder_searches_with_the_numpy_encoder():
    encoder = load_query_embedder("minilm")
    assert isinstance(encoder, MiniLMQueryEncoder) and encoder.name == "all-MiniLM-L6-v2"
    assert load_query_embedder("tests.documents.fakes:bag_of_words").name == "bag-of-words-16"
