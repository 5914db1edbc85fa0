"""Exact and near duplicates end up in one cluster with one canonical member; distinct documents do not."""

from __future__ import annotations

from dagster_project.demo.sample_data.kb_content import ARTICLES
from dagster_project.documents.dedup import cluster, lsh_bands


def test_exact_and_near_duplicates_cluster_under_the_canonical_member():
    returns = ARTICLES["returns"]
    edited = returns.replace("30 days", "14 days").replace("5 working days", "10 working days")
    documents = [
        ("returns.md", returns),
        ("returns_2025.md", edited),
        ("returns_copy.md", "  " + returns.upper()),  # same words: an exact duplicate after folding
        ("shipping.md", ARTICLES["shipping"]),
        ("payments.md", ARTICLES["payments"]),
    ]
    clusters = cluster(documents, threshold=0.8)
    assert clusters["returns.md"].kind == "canonical"
    assert clusters["returns_copy.md"].kind == "exact"
    assert clusters["returns_2025.md"].kind == "near"
    assert {clusters[d].cluster_id for d in ("returns.md", "returns_copy.md", "returns_2025.md")} == {
        "returns.md"
    }
    assert 0.8 <= clusters["returns_2025.md"].similarity < 1.0
    assert clusters["shipping.md"].kind == clusters["payments.md"].kind == "unique"


def test_threshold_is_configurable():
    base = ARTICLES["warranty"]
    words = base.split()
    rewritten = " ".join(w.upper() if i % 6 == 0 else w for i, w in enumerate(words))  # case is folded
    heavy = " ".join(w if i % 10 else "changed" for i, w in enumerate(words))  # Jaccard ~0.6
    documents = [("a", base), ("b", heavy), ("c", rewritten)]
    assert cluster(documents, threshold=0.95)["b"].kind == "unique"
    assert cluster(documents, threshold=0.4)["b"].kind == "near"
    assert cluster(documents, threshold=0.95)["c"].kind == "exact"


def test_lsh_bands_put_the_s_curve_near_the_threshold():
    for threshold in (0.5, 0.7, 0.8, 0.9):
        bands, rows = lsh_bands(threshold)
        assert bands * rows <= 128
        assert abs((1 / bands) ** (1 / rows) - threshold) < 0.08
