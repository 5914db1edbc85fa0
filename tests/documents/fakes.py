"""Embedders plugged in through FOUNDATION_EMBEDDER in tests ("tests.documents.fakes:<factory>")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class BagOfWords:
    """A tiny deterministic embedder: hashed word counts, unit length (16 dimensions)."""

    name = "bag-of-words-16"
    dimension = 16

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, sum(word.encode()) % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


class Broken(BagOfWords):
    """Returns NaN in every vector: the chunk gate must hold such a batch back."""

    name = "broken-16"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = super().embed(texts)
        vectors[:, 0] = np.nan
        return vectors


class Poisoned(BagOfWords):
    """NaN for any text holding the word POISON: one chunk of one document fails `embedding_finite`."""

    name = "poisoned-16"

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = super().embed(texts)
        for i, text in enumerate(texts):
            if "POISON" in text:
                vectors[i, 0] = np.nan
        return vectors


def bag_of_words() -> BagOfWords:
    return BagOfWords()


def broken() -> Broken:
    return Broken()


def poisoned() -> Poisoned:
    return Poisoned()
