"""Seeded byte-level fuzzing of the ingest engine: no mutated file crashes or hangs a run, none loses a row.

500 mutations (bit flips, inserted, deleted, duplicated and truncated bytes; quotes, delimiters, line
breaks, NULs, BOMs, long digit runs and deep brackets spliced in) of valid CSV, JSON lines, Parquet
and documents (markdown, HTML, text, PDF) are landed in batches; each batch is ingested in a child
process (a segfault or a hang there is a failure, not the end of the test run). For every file:
exactly one outcome (ingested, quarantined whole, or skipped with a reason); when ingested, its rows
in raw plus its rows in ops.quarantine equal its records counted independently; no planted value in
any message or sidecar.

A failure names the seed and the mutations; `FOUNDATION_FUZZ_SEED=<seed> pytest tests/test_fuzz.py`
replays it, `FOUNDATION_FUZZ_ONLY=<case,...>` narrows a replay to some of its files.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow  # 500 mutated files ingested in child processes

ROOT = Path(__file__).resolve().parent.parent
SEED = int(os.environ.get("FOUNDATION_FUZZ_SEED", "20261113"))
ONLY = {int(i) for i in os.environ.get("FOUNDATION_FUZZ_ONLY", "").split(",") if i.strip()}
CHILD_TIMEOUT_SECONDS = 240
BATCH = 50
# How many mutated files of each kind (500 in all).
PLAN = {"orders": 150, "support_tickets": 150, "products": 100, "md": 25, "html": 25, "txt": 25, "pdf": 25}
MARK = "Zq7PII"  # planted in every text value of the valid files; never allowed in a message


def _marker(i: int) -> str:
    return f"{MARK}{i:04d}x"


# --- valid files ---------------------------------------------------------------------------------


def _orders_csv() -> bytes:
    header = "order_id,customer_id,product_id,quantity,amount,currency,status,ordered_at"
    lines = [header]
    for i in range(1, 21):
        status = f'"{_marker(i)}, ""quoted""\nline"' if i % 4 == 0 else _marker(i)
        currency = _marker(200 + i)
        lines.append(
            f"{i},{i % 7 + 1},{i % 5 + 1},{i % 3 + 1},{i}.50,{currency},{status},2026-11-01 10:{i:02d}:00"
        )
    return ("\n".join(lines) + "\n").encode()


def _tickets_jsonl() -> bytes:
    lines = []
    for i in range(1, 21):
        body = _marker(100 + i)
        record = {
            "ticket_id": i,
            "customer_id": i % 7 + 1,
            "channel": _marker(200 + i),
            "priority": _marker(300 + i),
            "status": "open",
            "subject": _marker(i),
            "body": {"text": body, "tags": [1, [2, {"x": _marker(400 + i)}]]} if i % 5 == 0 else body,
            "created_at": f"2026-11-01T09:{i:02d}:00Z",
        }
        lines.append(json.dumps(record, ensure_ascii=i % 2 == 0))
    return ("\n".join(lines) + "\n").encode()


def _products_parquet() -> bytes:
    ids = list(range(1, 21))
    table = pa.table(
        {
            "product_id": pa.array(ids, pa.int64()),
            "sku": [_marker(100 + i) for i in ids],
            "name": [_marker(i) for i in ids],
            "category": [_marker(200 + i) for i in ids],
            "unit_price": pa.array([Decimal(f"{i}.50") for i in ids], pa.decimal128(10, 2)),
            "active": [True] * len(ids),
            "updated_at": [datetime(2026, 10, 1, 12, 0, i) for i in ids],
        }
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=7)
    return buffer.getvalue()


def _document(fmt: str) -> bytes:
    from dagster_project.demo.sample_data.documents import render
    from dagster_project.demo.sample_data.kb_content import ARTICLES

    slug = sorted(ARTICLES)[0]
    return render(ARTICLES[slug] + f"\n\nContact {_marker(1)} for help.\n", fmt)


# --- mutations -----------------------------------------------------------------------------------

SPLICES = [b'"', b'""', b",", b";", b"\n", b"\r", b"\r\n", b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"\\",
           b'\\u', b"\\ud800", b"\xc0\xaf", b"\xed\xa0\x80", b"\xff", b"}", b"{", b"[", b"]", b":", b"NaN",
           b"-", b"e", b".", b" ", b"\t", b"%PDF-", b"PAR1", b"<script>", b"</p>",
           # values that parse but may not fit a column: they exercise the casts and rows set apart
           b"1e400", b"1e-400", b"-0", b"2026-02-30", b"0000-01-01", b"+99:00", b"1.5", b"true", b"null",
           b".1234567", b"9223372036854775808", b"3.14159265358979323846"]  # fmt: skip


def _splice(rng: random.Random) -> tuple[bytes, str]:
    kind = rng.random()
    if kind < 0.15:
        return b"9" * rng.randint(15, 400), "digits"
    if kind < 0.25:
        depth = rng.choice([10, 70, 1000, 20000])
        opener = rng.choice([b"[", b'{"a":', b"[{"])
        return opener * depth, f"brackets({depth})"
    token = rng.choice(SPLICES)
    return token * rng.choice([1, 1, 1, 2, 50]), f"splice({token!r})"


def mutate(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    """1-3 byte-level mutations of `data` and what they were."""
    done = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        size = len(data)
        at = rng.randrange(size + 1) if size else 0
        op = rng.choice(["flip", "insert", "delete", "duplicate", "truncate", "splice", "splice"])
        if op == "flip" and size:
            at = min(at, size - 1)
            data = data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
        elif op == "insert":
            data = data[:at] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 8))) + data[at:]
        elif op == "delete":
            data = data[:at] + data[at + rng.randint(1, 64) :]
        elif op == "duplicate":
            span = data[at : at + rng.randint(1, 400)]
            data = data[:at] + span + data[at:]
        elif op == "truncate":
            data = data[:at]
        else:
            token, op = _splice(rng)
            data = data[:at] + token + data[at:]
        done.append(f"{op}@{at}")
    return data, done


@dataclass
class Mutant:
    index: int
    kind: str  # a dataset name or a document format
    key: str
    data: bytes
    mutations: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return f"#{self.index} {self.key} ({', '.join(self.mutations)})"


def mutants(seed: int) -> list[Mutant]:
    rng = random.Random(seed)
    valid = {
        "orders": _orders_csv(),
        "support_tickets": _tickets_jsonl(),
        "products": _products_parquet(),
        **{fmt: _document(fmt) for fmt in ("md", "html", "txt", "pdf")},
    }
    suffix = {"orders": "csv", "support_tickets": "jsonl", "products": "parquet"}
    out = []
    for kind, count in PLAN.items():
        for _ in range(count):
            index = len(out)
            data, done = mutate(valid[kind], rng)
            prefix = f"{kind}/" if kind in suffix else "documents/"
            key = f"{prefix}m{index:04d}.{suffix.get(kind, kind)}"
            out.append(Mutant(index, kind, key, data, done))
    return [m for m in out if not ONLY or m.index in ONLY]


# --- counting records independently ---------------------------------------------------------------


def records_in(kind: str, data: bytes) -> int | None:
    """The number of records in a file, counted without the engine; None when that cannot be said."""
    if kind == "orders":
        try:
            text = data.decode("utf-8-sig")
            rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=",", quotechar='"', strict=True))
        except (UnicodeDecodeError, csv.Error):
            return None
        return sum(1 for row in rows[1:] if row)
    if kind == "support_tickets":
        return sum(1 for line in data.split(b"\n") if line.strip())
    if kind == "products":
        try:
            return pq.read_metadata(io.BytesIO(data)).num_rows
        except Exception:  # noqa: BLE001 - any failure means: not countable
            return None
    return 1


# --- the child process ---------------------------------------------------------------------------


def child(data_dir: str, dataset: str) -> None:
    """Ingest what is landed for one dataset; print every outcome as JSON (run in a child process)."""
    from dagster_project.lakehouse.ops_tables.quarantine import read_quarantine
    from dagster_project.lakehouse.tables import open_catalog
    from dagster_project.settings import Settings

    settings = Settings.for_data_dir(Path(data_dir), sensor_min_file_age_seconds=0, duckdb_threads=1)
    if dataset == "documents":
        from dagster_project.documents.config import load_documents_config
        from dagster_project.documents.ingest import ingest_documents

        report = ingest_documents(settings, load_documents_config(settings.documents_file), run_id="fuzz")
    else:
        from dagster_project.ingest.run import ingest_dataset
        from dagster_project.registry import load_registry

        registry = load_registry(settings.sources_file)
        report = ingest_dataset(settings, registry[dataset], run_id="fuzz")
    catalog = open_catalog(settings)
    table = "raw.documents" if dataset == "documents" else registry[dataset].table
    raw: dict[str, int] = {}
    if catalog.table_exists(table):
        for uri in (
            catalog.load_table(table).scan(selected_fields=("_source_file",)).to_arrow()["_source_file"]
        ):
            raw[uri.as_py()] = raw.get(uri.as_py(), 0) + 1
    records = [
        {k: r[k] for k in ("source_file", "scope", "reason", "message", "line", "quarantine_file")}
        for r in read_quarantine(catalog).to_pylist()
    ]
    print(
        json.dumps(
            {
                "ingested": report.ingested,
                "skipped": report.skipped,
                "quarantined": [q.source_file for q in report.quarantined],
                "rejected_rows": len(report.rejected_rows),
                "raw": raw,
                "records": records,
            }
        )
    )


def _run_batch(batch: list[Mutant], dataset: str, root: Path) -> tuple[list[Mutant], str, dict | None]:
    from dagster_project.settings import Settings

    data_dir = root / f"batch{batch[0].index:04d}"
    settings = Settings.for_data_dir(data_dir)
    landing = Path(settings.landing_uri.removeprefix("file://"))
    for m in batch:
        path = landing / m.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(m.data)
    try:
        done = subprocess.run(
            [sys.executable, __file__, "child", str(data_dir), dataset],
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_SECONDS,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
    except subprocess.TimeoutExpired:
        return batch, f"hung for more than {CHILD_TIMEOUT_SECONDS} s", None
    if done.returncode != 0:
        return batch, f"exit {done.returncode}: {done.stderr[-3000:]}", None
    return batch, "", json.loads(done.stdout.strip().splitlines()[-1])


def _check_batch(batch: list[Mutant], dataset: str, root: Path, outcome: dict, stats: dict) -> list[str]:
    from dagster_project.settings import Settings

    landing = Path(
        Settings.for_data_dir(root / f"batch{batch[0].index:04d}").landing_uri.removeprefix("file://")
    )
    problems = []
    for m in batch:
        uri = (landing / m.key).as_uri()
        ingested = [f for f in outcome["ingested"] if f["file"] == m.key]
        quarantined = outcome["quarantined"].count(uri)
        skipped = [s for s in outcome["skipped"] if s["file"] == m.key]
        records = [r for r in outcome["records"] if r["source_file"] == uri]
        where = f"{m.describe()} (seed {SEED})"
        if len(ingested) + quarantined + len(skipped) != 1:
            problems.append(
                f"{where}: {len(ingested)} ingested, {quarantined} quarantined, {skipped} skipped"
            )
            continue
        for record in records:
            if m.key.rsplit("/", 1)[-1] not in (record["message"] or ""):
                problems.append(f"{where}: the message does not name the file: {record['message']!r}")
            if MARK in (record["message"] or ""):
                problems.append(f"{where}: a planted value in the message {record['message']!r}")
            if record["quarantine_file"]:
                sidecar = Path(record["quarantine_file"].removeprefix("file://") + ".json").read_text()
                if MARK in sidecar:
                    problems.append(f"{where}: a planted value in the sidecar")
        if skipped:
            stats["skipped"] += 1
            if not skipped[0]["why"]:
                problems.append(f"{where}: skipped without a reason")
            continue
        if quarantined:
            stats["quarantined"] += 1
            stats.setdefault("reasons", {}).setdefault(records[0]["reason"] if records else "?", 0)
            stats["reasons"][records[0]["reason"] if records else "?"] += 1
            if [r["scope"] for r in records] != ["file"]:
                problems.append(f"{where}: quarantined whole, but ops.quarantine has {records}")
            continue
        stats["ingested"] += 1
        rows = ingested[0]["rows"]
        set_apart = sum(r["scope"] == "row" for r in records)
        stats["rows set apart"] = stats.get("rows set apart", 0) + set_apart
        if outcome["raw"].get(uri, 0) != rows:
            problems.append(f"{where}: report says {rows} rows, raw has {outcome['raw'].get(uri, 0)}")
        if any(r["scope"] == "file" for r in records):
            problems.append(f"{where}: ingested and quarantined whole")
        expected = records_in(m.kind, m.data)
        if expected is None:
            stats["uncounted"] += 1
            continue
        if rows + set_apart != expected:
            problems.append(
                f"{where}: {rows} rows in raw + {set_apart} set apart, but the file has {expected}"
            )
    return problems


def _datasets(m: Mutant) -> str:
    return m.kind if m.kind in ("orders", "support_tickets", "products") else "documents"


def test_mutated_files_never_crash_a_run_or_lose_a_row(tmp_path: Path):
    everything = mutants(SEED)
    batches: list[tuple[list[Mutant], str]] = []
    by_dataset: dict[str, list[Mutant]] = {}
    for m in everything:
        by_dataset.setdefault(_datasets(m), []).append(m)
    for dataset, ms in by_dataset.items():
        batches += [(ms[i : i + BATCH], dataset) for i in range(0, len(ms), BATCH)]
    stats = {"ingested": 0, "quarantined": 0, "skipped": 0, "uncounted": 0}
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda b: _run_batch(b[0], b[1], tmp_path), batches))
    for (batch, dataset), (_, failure, outcome) in zip(batches, results, strict=True):
        if failure:
            listing = "; ".join(m.describe() for m in batch)
            problems.append(f"seed {SEED}: the run over {listing} failed: {failure}")
            continue
        problems += _check_batch(batch, dataset, tmp_path, outcome, stats)
    print(f"seed {SEED}: {len(everything)} mutated files: {stats}")
    assert not problems, f"{len(problems)} problem(s):\n" + "\n".join(problems[:40])


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "child":
    child(sys.argv[2], sys.argv[3])
elif __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q", "-s"])
