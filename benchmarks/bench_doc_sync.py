"""Document sync benchmark: chunks embedded and seconds per sync, with the embedding cache and without.

On one corpus (the sample knowledge base of dagster_project/demo/sample_data plus `--documents`
generated guides of six sections each), with the real MiniLM embedder, the same steps run twice,
each in a fresh data directory: once as the sync runs today (embedding cache on) and once with the
cache and the reuse of vectors from main turned off, which is the old behaviour (every chunk of a
changed document embedded again, nothing kept from a held-back sync). Steps: (1) first sync;
(2) a sync with nothing changed; (3) a new document whose one chunk fails `embedding_finite`
lands and is held back; (4) a rerun while it is held; (5) its release; (6) one section of one
guide edited; (7) a section with the same text added to every guide, so `duplicate_ratio` (a
batch-wide check) holds the whole batch back, as the issue saw; (8) a rerun while it is held.
Each step reports the chunks embedded (the texts sent to the model), the cache hits and the
seconds of the whole sync. The held document's failing chunk comes from a thin wrapper
of MiniLM that returns NaN for the word POISON (a real model never fails that way on purpose).
Writes `.data/bench/doc_sync.json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np

from dagster_project.demo.sample_data.documents import write_documents
from dagster_project.documents import embed_cache
from dagster_project.documents.config import load_documents_config
from dagster_project.documents.embed import Embedder, load_embedder
from dagster_project.documents.gate import chunk_suite
from dagster_project.documents.ingest import ingest_documents
from dagster_project.documents.review import release_document
from dagster_project.documents.sync import sync_documents
from dagster_project.documents.tables import CHUNKS_TABLE
from dagster_project.lakehouse.tables import open_catalog
from dagster_project.settings import Settings, load_settings

VOCABULARY = (
    "server client backup restore token cluster volume bucket queue worker schedule retry timeout "
    "certificate proxy gateway replica shard index cache session cookie header payload webhook "
    "pipeline artifact registry container image kernel module driver firmware sensor metric alert "
    "invoice refund account password profile export import report dashboard filter column table "
    "policy role permission audit log event stream partition snapshot branch merge release deploy"
).split()
SECTIONS = ("Overview", "Install", "Configure", "Upgrade", "Troubleshoot", "Remove")
HELD = "guides/recall-notice.md"
EDITED = "guides/guide-000.md"
EDIT_STEP = "one section of one guide edited"
ZERO_STEPS = ("no change", "rerun while held", "rerun while the batch is held")


class Counted:
    """MiniLM, counting the texts it embeds; NaN for a text with the word POISON (to hold a document)."""

    def __init__(self, model: Embedder) -> None:
        self.model, self.name, self.dimension = model, model.name, model.dimension
        self.texts = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.texts += len(texts)
        vectors = np.array(self.model.embed(texts), dtype=np.float32)
        for i, text in enumerate(texts):
            if "POISON" in text:
                vectors[i, 0] = np.nan
        return vectors


def guide(n: int, edited: bool = False, support: bool = False) -> str:
    """A generated guide: six sections of two paragraphs, worded from its own seed."""
    rng = random.Random(n)
    parts = [f"# Guide {n:03d}\n"]
    for section in SECTIONS:
        paragraphs = [" ".join(rng.choice(VOCABULARY) for _ in range(60)) + "." for _ in range(2)]
        if edited and section == "Configure":
            paragraphs[1] += " Since release 2.4 the proxy setting moved to the gateway section."
        parts.append(f"## {section}\n\n" + "\n\n".join(paragraphs) + "\n")
    if support:  # the same text in every guide: more than 5% duplicate chunks
        parts.append("## Support\n\nWrite to the help desk through the form on the contact page any day.\n")
    return "\n".join(parts)


def held_document() -> str:
    body = "Every product listed below is recalled; return it to the shop for a full refund. " * 6
    return f"# Recall notice\n\n## Products\n\n{body}\n\n## Form\n\nUse the POISON form for returns.\n"


@contextmanager
def cache_off() -> Iterator[None]:
    """The old behaviour: no vector is taken from the cache or from main, and none is cached."""
    with (
        mock.patch.object(embed_cache, "lookup", return_value={}),
        mock.patch.object(embed_cache, "published_vectors", return_value={}),
        mock.patch.object(embed_cache, "store", return_value=0),
    ):
        yield


def _land(settings: Settings, files: dict[str, str]) -> None:
    landing = Path(settings.landing_uri.removeprefix("file://")) / "documents"
    for name, text in files.items():
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_text(text, encoding="utf-8")
    ingest_documents(settings, load_documents_config(settings.documents_file), run_id="bench-ingest")


def scenario(root: Path, model: Embedder, documents: int) -> list[dict]:
    """The six steps in a fresh data directory; one row per step."""
    settings = Settings.for_data_dir(root, sensor_min_file_age_seconds=0)
    write_documents(Path(settings.landing_uri.removeprefix("file://")))
    _land(settings, {f"guides/guide-{n:03d}.md": guide(n) for n in range(documents)})
    config = load_documents_config(settings.documents_file)
    suite = chunk_suite(settings.expectations_dir)
    embedder = Counted(model)
    steps: list[dict] = []

    def sync(step: str, run: str, release: str | None = None) -> None:
        embedder.texts = 0
        started = time.perf_counter()
        if release:
            # release_document loads the configured embedder: give it this one.
            with mock.patch("dagster_project.documents.embed.load_embedder", return_value=embedder):
                report = release_document(settings, release, via="bench", run_id=run)
        else:
            report = sync_documents(settings, config, embedder, run_id=run, suite=suite)
        steps.append(
            {
                "step": step,
                "chunks_embedded": embedder.texts,
                "embedding_cache_hits": report.embedding_cache_hits,
                "documents_embedded": len(report.embedded_documents),
                "held": sorted(h["document"] for h in report.held if h["status"] == "held"),
                "chunks_total": report.chunks_total,
                "seconds": round(time.perf_counter() - started, 2),
            }
        )
        print(json.dumps(steps[-1]), file=sys.stderr)

    sync("first sync", "first")
    sync("no change", "unchanged")
    _land(settings, {HELD: held_document()})
    sync("new document held back", "held")
    sync("rerun while held", "rerun")
    sync("release of the held document", "release", release=HELD)
    _land(settings, {EDITED: guide(0, edited=True)})
    sync(EDIT_STEP, "edited")
    count = _chunks_of(settings, EDITED)
    # The case: a batch-wide check (duplicate_ratio) fails and holds back every change.
    _land(settings, {f"guides/guide-{n:03d}.md": guide(n, support=True) for n in range(1, documents)})
    sync("a section added to every guide, batch held back", "batch-held")
    sync("rerun while the batch is held", "batch-rerun")
    steps[0]["edited_document_chunks"] = count
    return steps


def _chunks_of(settings: Settings, document: str) -> int:
    chunks = open_catalog(settings).load_table(CHUNKS_TABLE).scan(selected_fields=("document_id", "level"))
    rows = chunks.to_arrow().to_pylist()
    return sum(r["document_id"] == document and r["level"] != "parent" for r in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=80, help="generated guides beside the sample KB")
    args = parser.parse_args(argv)
    model = load_embedder("minilm")
    model.embed(["warm up"])  # model load and first-call set-up are not the sync's cost
    with tempfile.TemporaryDirectory() as tmp:
        scenario(Path(tmp) / "warm-up", model, 2)  # imports and first table creations: in neither figure
        cached = scenario(Path(tmp) / "cached", model, args.documents)
        with cache_off():
            baseline = scenario(Path(tmp) / "baseline", model, args.documents)
    edited_chunks = cached[0]["edited_document_chunks"]
    result = {
        "documents": args.documents,
        "embedder": model.name,
        "edited_document_chunks": edited_chunks,
        "steps": [
            {
                "step": c["step"],
                "chunks_embedded": c["chunks_embedded"],
                "embedding_cache_hits": c["embedding_cache_hits"],
                "seconds": c["seconds"],
                "baseline_chunks_embedded": b["chunks_embedded"],
                "baseline_seconds": b["seconds"],
                "held": c["held"],
            }
            for c, b in zip(cached, baseline, strict=True)
        ],
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
    }
    by_step = {s["step"]: s for s in result["steps"]}
    # Targets (issue 16, point 4): nothing changed or only held: 0 embedded; an edit: fewer than all.
    result["pass"] = (
        all(by_step[name]["chunks_embedded"] == 0 for name in ZERO_STEPS)
        and by_step[EDIT_STEP]["chunks_embedded"] < edited_chunks
    )
    result["report_rows"] = [
        {
            "benchmark": f"doc_sync: {s['step']}",
            "ours": f"{s['chunks_embedded']} embedded ({s['embedding_cache_hits']} hits), {s['seconds']} s",
            "baseline": f"no cache: {s['baseline_chunks_embedded']} embedded, {s['baseline_seconds']} s",
            "ratio": round(s["seconds"] / s["baseline_seconds"], 3) if s["baseline_seconds"] else "",
            "target": "0 embedded"
            if s["step"] in ZERO_STEPS
            else (f"< {edited_chunks} embedded" if s["step"] == EDIT_STEP else ""),
            "peak_rss_mib": None,
            "input": f"sample KB + {args.documents} guides, {model.name}",
        }
        for s in result["steps"]
    ]
    out = load_settings().data_dir / "bench" / "doc_sync.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("| step | chunks embedded | cache hits | seconds | old: chunks embedded | old: seconds |")
    print("|---|---|---|---|---|---|")
    for s in result["steps"]:
        print(
            f"| {s['step']} | {s['chunks_embedded']} | {s['embedding_cache_hits']} | {s['seconds']} "
            f"| {s['baseline_chunks_embedded']} | {s['baseline_seconds']} |"
        )
    print(f"edited guide: {edited_chunks} embedded chunks; wrote {out}")
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
