"""Document memory benchmark: peak RSS of one big document through the whole document path.

Each case lands one generated document and runs, in a fresh child process, what the document
assets run: ingest (landing → raw.documents) and sync (curate, chunk, embed, gate, publish to
curated.documents and curated.document_chunks, LanceDB index). Peak RSS comes from wait4.

Cases: a 22 MiB text (the size the issue reported at 2.5 GB), a text just under
FOUNDATION_MAX_DOCUMENT_TEXT_BYTES (24 MiB), a 200 MiB text (past FOUNDATION_MAX_DOCUMENT_BYTES,
64 MiB: refused unread with a size reason), and a 2,000-page PDF.

The real MiniLM model is loaded in the child and embeds one batch before the run, so its weights
and working memory are in the figures; the chunks themselves are embedded by a fast fake of the
same shape (384 dimensions, unit vectors): MiniLM on 2 cores embeds about 40 chunks a second, so
the 22 MiB text alone (26,000 chunks) would take over 10 minutes.

Run with `make bench-doc-memory`; `--cases` picks cases.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dagster_project.demo.sample_data.pdf import pdf_bytes
from dagster_project.settings import Settings, load_settings

TARGET_MIB = 1536
# Measured before streaming (commit 2d9689a), this benchmark and machine (2 shared cores):
# the MinHash of one document held every shingle times 128 permutations at once.
BASELINE_MIB = {"text_22mib": 7880.0, "pdf_2000_pages": 2102.0}

CHILD = """
import json, resource, sys, time
from pathlib import Path
import numpy as np
from dagster_project.documents.config import load_documents_config
from dagster_project.documents.embed import load_embedder
from dagster_project.documents.gate import chunk_suite
from dagster_project.documents.ingest import ingest_documents
from dagster_project.documents.sync import sync_documents
from dagster_project.settings import Settings

model = load_embedder("minilm")  # resident, as in the asset; the chunks go to the fake below
model.embed(["a chunk of text about the returns policy and its exceptions " * 12] * 32)


class Fake:
    name, dimension = "fake-minilm-384", 384
    def embed(self, texts):
        vectors = np.random.default_rng(len(texts)).standard_normal((len(texts), 384)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

settings = Settings.for_data_dir(Path(sys.argv[1]), sensor_min_file_age_seconds=0)
config = load_documents_config(settings.documents_file)
start = time.perf_counter()
ingest = ingest_documents(settings, config, run_id="bench")
ingest_s = time.perf_counter() - start
ingest_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
sync = sync_documents(settings, config, Fake(), run_id="bench", suite=chunk_suite(settings.expectations_dir))
print(json.dumps({
    "ingested": len(ingest.ingested),
    "refused": [{"reason": q.reason, "message": q.message} for q in ingest.quarantined],
    "chunks": sync.chunks_added,
    "held": sync.held,
    "ingest_seconds": round(ingest_s, 1),
    "sync_seconds": round(time.perf_counter() - start - ingest_s, 1),
    "ingest_peak_rss_mib": round(ingest_mib, 1),
}))
"""


def _child(code: str, *args: str) -> tuple[dict, float]:
    """Run `code` in a fresh interpreter; returns (its JSON line, peak RSS in MiB)."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    output = proc.stdout.read() if proc.stdout else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark child failed ({os.waitstatus_to_exitcode(status)}): {output[-2000:]}")
    return json.loads(output.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def _vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(2, 10))) for _ in range(5000)]


def _paragraph(rng: random.Random, vocabulary: list[str]) -> str:
    sentences = (" ".join(rng.choices(vocabulary, k=rng.randint(8, 20))).capitalize() + "." for _ in range(5))
    return " ".join(sentences)


def write_text(path: Path, target_bytes: int) -> int:
    """A plain-text manual: an underlined title, a section every 20 paragraphs of random words."""
    rng = random.Random(7)
    vocabulary = _vocabulary(rng)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("Big Manual\n==========\n\n")
        written, paragraph = 0, 0
        while written < target_bytes - 2000:
            if paragraph % 20 == 0:
                written += handle.write(f"Section {paragraph // 20 + 1}\n{'-' * 12}\n\n")
            written += handle.write(_paragraph(rng, vocabulary) + "\n\n")
            paragraph += 1
    return path.stat().st_size


def write_pdf(path: Path, pages: int) -> int:
    """A PDF of `pages` pages, each a chapter heading over five paragraphs (the sample PDF writer)."""
    rng = random.Random(11)
    vocabulary = _vocabulary(rng)
    blocks: list[tuple[str, str]] = []
    for page in range(pages):
        blocks += [("hr", "")] if page else []  # a rule is a page break
        blocks.append(("h1", f"Chapter {page + 1}"))
        blocks += [("p", " ".join(rng.choices(vocabulary, k=60))) for _ in range(5)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pdf_bytes("Big manual", blocks))
    return path.stat().st_size


def measure(workdir: Path, name: str, key: str, write, limit: int) -> dict:  # noqa: ANN001
    if workdir.exists():
        shutil.rmtree(workdir)
    data = workdir / "data"
    started = time.perf_counter()
    size = write(data / "landing" / "documents" / key)
    print(f"  {name}: wrote {size / 2**20:.1f} MiB in {time.perf_counter() - started:.0f} s", flush=True)
    result, rss = _child(CHILD, str(data))
    shutil.rmtree(workdir)
    return {"case": name, "bytes": size, "text_limit_bytes": limit, **result, "peak_rss_mib": round(rss, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", default="text_22mib,text_under_limit,text_200mib,pdf_2000_pages")
    args = parser.parse_args()
    wanted = args.cases.split(",")
    settings = load_settings()
    defaults = Settings.for_data_dir(settings.data_dir)  # the defaults, not this shell's
    limit = getattr(defaults, "max_document_text_bytes", 24 << 20)  # (absent before it was added)
    out_dir = settings.data_dir / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "doc-memory-work"
    cases = {
        "text_22mib": ("big.txt", lambda p: write_text(p, 22 << 20)),
        "text_under_limit": ("under.txt", lambda p: write_text(p, limit - (256 << 10))),
        "text_200mib": ("huge.txt", lambda p: write_text(p, 200 << 20)),
        "pdf_2000_pages": ("manual.pdf", lambda p: write_pdf(p, 2000)),
    }
    rounds = []
    for name, (key, write) in cases.items():
        if name in wanted:
            rounds.append(measure(work, name, key, write, limit))
            rounds[-1]["baseline_peak_rss_mib"] = BASELINE_MIB.get(name)
            print("  " + json.dumps(rounds[-1]), flush=True)
    report = {
        "benchmark": "doc_memory",
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "embedder": "MiniLM loaded (one batch); chunks embedded by a fake of its shape (speed)",
        "rounds": rounds,
        "targets": {"peak_rss_mib": f"<= {TARGET_MIB} for every case, or refused with a size reason"},
    }
    report["pass"] = all(
        r["peak_rss_mib"] <= TARGET_MIB and (r["ingested"] or r["refused"][0]["reason"] == "too_large")
        for r in rounds
    )
    report["report_rows"] = [  # the rows benchmarks/report.py shows
        {
            "benchmark": f"document memory, {r['case']}",
            "ours": f"{r['peak_rss_mib']} MiB peak RSS"
            + (f", {r['chunks']:,} chunks" if r["ingested"] else f", refused ({r['refused'][0]['reason']})"),
            "baseline": f"before streaming {r['baseline_peak_rss_mib']} MiB"
            if r["baseline_peak_rss_mib"]
            else "",
            "ratio": f"{r['peak_rss_mib'] / r['baseline_peak_rss_mib']:.2f}× RSS"
            if r["baseline_peak_rss_mib"]
            else "",
            "target": f"<= {TARGET_MIB} MiB or refused",
            "peak_rss_mib": r["peak_rss_mib"],
            "input": f"{r['bytes'] / 2**20:.1f} MiB",
        }
        for r in rounds
    ]
    (out_dir / "doc_memory.json").write_text(json.dumps(report, indent=2))
    print()
    header = ("case", "MiB", "chunks", "outcome", "peak RSS MiB", "before MiB")
    print("{:>17} {:>7} {:>7} {:>10} {:>13} {:>11}".format(*header))
    for r in rounds:
        outcome = "processed" if r["ingested"] else r["refused"][0]["reason"]
        before = r["baseline_peak_rss_mib"]
        print(
            f"{r['case']:>17} {r['bytes'] / 2**20:>7.1f} {r['chunks']:>7} {outcome:>10} "
            f"{r['peak_rss_mib']:>13.0f} {before if before else '-':>11}"
        )
    print(f"targets met: {report['pass']}   (report: {out_dir / 'doc_memory.json'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
