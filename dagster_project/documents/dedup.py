"""Exact (content hash) and near-duplicate (MinHash LSH) detection: clusters with one canonical member."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from blake3 import blake3

SHINGLE_WORDS = 3
NUM_PERM = 128
_PRIME = np.uint64(4294967311)  # the first prime above 2**32: (a * x + b) stays below 2**64


@dataclass(frozen=True)
class Membership:
    """A document's place in its duplicate cluster."""

    document_id: str
    cluster_id: str  # the canonical member's document id
    canonical: bool
    kind: str  # "unique", "canonical", "exact" or "near"
    similarity: float  # estimated Jaccard similarity to the canonical member (1.0 for itself)


_WORD = re.compile(r"\w+")
# Words handled at a time: a document of any size is hashed in blocks of bounded memory (a list of
# every word of a 22 MB text alone took 300 MB, its shingles times 128 permutations 7 GB).
BLOCK_WORDS = 1 << 16


def _word_blocks(text: str) -> Iterator[list[str]]:
    """The text's lower-cased words, in lists of up to BLOCK_WORDS."""
    block: list[str] = []
    for match in _WORD.finditer(text):
        block.append(match.group(0).lower())
        if len(block) == BLOCK_WORDS:
            yield block
            block = []
    if block:
        yield block


def content_hash(text: str) -> str:
    """BLAKE3 of the text with case and whitespace folded: equal for exact duplicates."""
    hasher = blake3()
    separator = b""
    for block in _word_blocks(text):
        hasher.update(separator + " ".join(block).encode("utf-8"))
        separator = b" "
    return hasher.hexdigest()


@lru_cache(maxsize=4)
def _permutations(num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)  # fixed: signatures must be comparable across runs
    a = rng.integers(1, int(_PRIME), size=num_perm, dtype=np.uint64)
    b = rng.integers(0, int(_PRIME), size=num_perm, dtype=np.uint64)
    return a, b


def minhash(text: str, num_perm: int = NUM_PERM) -> np.ndarray:
    """The MinHash signature of a text's word 3-gram shingles (uint64, one value per permutation).

    Shingles are hashed and folded into the signature a block at a time (the minimum is the same
    whichever block a shingle is seen in), so memory stays bounded whatever the text's size.
    """
    a, b = _permutations(num_perm)
    signature = np.full(num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
    tail: list[str] = []  # the last words of the previous block: shingles span blocks
    seen = False
    for block in _word_blocks(text):
        words = tail + block
        tail = words[-(SHINGLE_WORDS - 1) :]
        n = len(words) - SHINGLE_WORDS + 1
        if n < 1:
            continue
        seen = True
        signature = np.minimum(signature, _block_minimum(words, n, a, b))
    if not seen:  # fewer words than a shingle: the words themselves are the one shingle
        signature = _block_minimum(tail, 1, a, b)
    return signature


def _block_minimum(words: list[str], n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    shingles = {" ".join(words[i : i + SHINGLE_WORDS]) for i in range(n)}
    hashes = np.fromiter(
        (int.from_bytes(blake3(s.encode()).digest(4), "little") for s in shingles),
        dtype=np.uint64,
        count=len(shingles),
    )
    values = (np.outer(hashes, a) + b) % _PRIME
    return values.min(axis=0)


def lsh_bands(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm whose S-curve midpoint is nearest the threshold."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if abs((1 / bands) ** (1 / rows) - threshold) < abs((1 / best[0]) ** (1 / best[1]) - threshold):
            best = (bands, rows)
    return best


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return float(np.mean(a == b))


def cluster(
    documents: Sequence[tuple[str, str]],
    *,
    threshold: float,
    rank: Callable[[str], object] | None = None,
) -> dict[str, Membership]:
    """Group documents into exact- and near-duplicate clusters.

    Exact duplicates share a content hash. Near duplicates are candidate pairs from MinHash LSH
    (bands tuned to `threshold`) whose estimated Jaccard similarity is at least `threshold`;
    clusters are the connected components. The canonical member is the first by `rank`
    (default: the shortest document id, then alphabetical).

    Args:
        documents: (document id, text) pairs.
        threshold: Jaccard similarity from which two documents are near duplicates (0 < t <= 1).
        rank: Sort key over document ids choosing the canonical member.

    Returns:
        Membership by document id.
    """
    rank = rank or (lambda doc_id: (len(doc_id), doc_id))
    ids = [doc_id for doc_id, _ in documents]
    parent = {doc_id: doc_id for doc_id in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(x: str, y: str) -> None:
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry, key=rank)] = min(rx, ry, key=rank)

    by_hash: dict[str, str] = {}
    hashes = {}
    for doc_id, text in documents:
        hashes[doc_id] = h = content_hash(text)
        if h in by_hash:
            union(by_hash[h], doc_id)
        else:
            by_hash[h] = doc_id
    signatures = {doc_id: minhash(text) for doc_id, text in documents}
    bands, rows = lsh_bands(threshold)
    buckets: dict[tuple[int, bytes], list[str]] = {}
    for doc_id in by_hash.values():  # one representative per exact-duplicate group
        signature = signatures[doc_id]
        for band in range(bands):
            key = (band, signature[band * rows : (band + 1) * rows].tobytes())
            buckets.setdefault(key, []).append(doc_id)
    checked: set[tuple[str, str]] = set()
    for members in buckets.values():
        for i, x in enumerate(members):
            for y in members[i + 1 :]:
                pair = (x, y) if x < y else (y, x)
                if pair in checked:
                    continue
                checked.add(pair)
                if similarity(signatures[x], signatures[y]) >= threshold:
                    union(x, y)
    groups: dict[str, list[str]] = {}
    for doc_id in ids:
        groups.setdefault(find(doc_id), []).append(doc_id)
    result = {}
    for members in groups.values():
        canonical = min(members, key=rank)
        for doc_id in members:
            if len(members) == 1:
                kind = "unique"
            elif doc_id == canonical:
                kind = "canonical"
            else:
                kind = "exact" if hashes[doc_id] == hashes[canonical] else "near"
            sim = (
                1.0
                if kind in ("unique", "canonical", "exact")
                else similarity(signatures[doc_id], signatures[canonical])
            )
            result[doc_id] = Membership(doc_id, canonical, doc_id == canonical, kind, round(sim, 4))
    return result
