"""Catch-up cost benchmark: does the work grow with the new files only, not with every file ever landed?

Two measurements, each against the old way in the same run (medians, contenders alternating):

1. Catch-up on S3 (`moto_server` on 127.0.0.1 over HTTP): a landing zone of 10,000 handled objects
   plus 10 new files, against the same 10 files in an empty zone. A catch-up is `pending_work`
   (which versions are due) and one ingest of the due files. "manifest" is today's code (decided
   from the listing by key and landing version); "old walk" is the previous algorithm, kept here
   verbatim: download and checksum every listed object, compare with the snapshot summaries.
   Downloads (GetObject) are counted by a wrapper around the landing store's `fetch`.
2. A landing sensor's handled-version lookup with 100,000 handled files: `_handled_versions`
   (manifest filtered by dataset) against the old walk of every snapshot summary.

Preparing handled files does not ingest them one by one: the objects are uploaded (S3) and then
recorded as the ingest would record them, in snapshot summaries of data-less commits (1,000 or
5,000 files each, like batched runs) written with pyiceberg, the checksums computed from the bytes
uploaded; the manifest gets its rows from the same summaries (the backfill path, `record_missing`),
or, for the sensor lookup, one manifest append per commit as runs append them.

Run with `make bench-catchup`; `--handled`, `--new`, `--lookup-files`, `--rounds` change the sizes.
Writes `.data/bench/catchup.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from blake3 import blake3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.servers: moto_server's harness

from dagster_project.catch_up import Pending, pending_work  # noqa: E402
from dagster_project.ingest.run import ingest_dataset, landed_files  # noqa: E402
from dagster_project.lakehouse.ops_tables.quarantine import (  # noqa: E402
    duplicate_versions,
    quarantined_landing_versions,
    quarantined_versions,
)
from dagster_project.lakehouse.publish import (  # noqa: E402
    FILES_PROPERTY,
    RUN_PROPERTY,
    VERSIONS_PROPERTY,
    held_versions,
    ingested_versions,
    landing_versions,
)
from dagster_project.lakehouse.tables import ensure_raw_table, open_catalog  # noqa: E402
from dagster_project.landing.store import FileChanged
from dagster_project.landing.zone import open_landing  # noqa: E402
from dagster_project.registry import load_registry  # noqa: E402
from dagster_project.settings import Settings, load_settings  # noqa: E402
from tests.servers.s3 import REGION, UNSET, S3Server, s3_env  # noqa: E402

try:  # absent before the manifest: the benchmark then measures the old way only (BEFORE figures)
    from dagster_project.defs.raw.sensors import _handled_versions
    from dagster_project.lakehouse.ops_tables.handled_files import (
        handled_table,
        record_handled,
        record_missing,
    )
    from dagster_project.lakehouse.ops_tables.handled_rows import snapshot_rows
except ImportError:
    record_missing = None

BUCKET = "bench"
HEADER = "order_id,customer_id,product_id,quantity,amount,currency,status,ordered_at"
TARGETS = {"catchup_ratio": "<= 2x (10,000 handled + 10 new vs 10 into an empty zone)", "lookup": "<= 2 s"}


def orders(first_id: int, count: int) -> bytes:
    rows = [HEADER] + [
        f"{i},{i % 7 + 1},{i % 5 + 1},{i % 3 + 1},{i}.50,EUR,placed,2026-11-01 10:{i % 60:02d}:00"
        for i in range(first_id, first_id + count)
    ]
    return ("\n".join(rows) + "\n").encode()


def handled_content(i: int) -> bytes:
    return orders(1_000_000 + i, 1)


def new_content(j: int) -> bytes:
    return orders(10_000_000 + 1_000 * j, 1_000)


def upload(client, prefix: str, objects: dict[str, bytes]) -> None:  # noqa: ANN001
    with ThreadPoolExecutor(16) as pool:
        list(
            pool.map(
                lambda kv: client.put_object(Bucket=BUCKET, Key=prefix + kv[0], Body=kv[1]), objects.items()
            )
        )


def commit_handled(settings: Settings, versions: dict[str, tuple[str, str]], per_commit: int) -> None:
    """Record landed versions as handled the way the ingest does: in snapshot summaries (no data)."""
    catalog = open_catalog(settings)
    table = ensure_raw_table(catalog, load_registry(settings.sources_file)["orders"])
    empty = table.schema().as_arrow().empty_table()
    items = sorted(versions.items())
    for start in range(0, len(items), per_commit):
        chunk = items[start : start + per_commit]
        table.append(
            empty,
            snapshot_properties={
                FILES_PROPERTY: json.dumps([[uri, checksum] for uri, (checksum, _) in chunk]),
                VERSIONS_PROPERTY: json.dumps({uri: version for uri, (_, version) in chunk}),
                RUN_PROPERTY: f"prepared-{start // per_commit}",
            },
        )


def old_pending_work(settings: Settings) -> Pending:
    """The catch-up decision before the manifest (verbatim, minus the error handling): every listed
    object is downloaded and checksummed, and compared with the snapshot summaries."""
    catalog = open_catalog(settings)
    landing = open_landing(settings)
    pending = Pending()
    for dataset in load_registry(settings.sources_file):
        files = landed_files(settings, dataset)
        if not files:
            continue
        table = ensure_raw_table(catalog, dataset)
        known = (
            set(ingested_versions(table))
            | held_versions(table)
            | quarantined_versions(catalog, dataset.name)
            | (set(duplicate_versions(catalog, dataset.name)) if dataset.duplicates == "skip" else set())
        )
        for file in files:
            try:
                with landing.fetch(file, settings.work_dir / "catch-up") as (_, checksum):
                    handled = (file.uri, checksum) in known
            except FileChanged:
                handled = False
            if not handled:
                pending.files.append((dataset.name, file.key))
    return pending


class FetchCounter:
    """Counts the landing store's downloads (each `fetch` is one GetObject on S3)."""

    def __init__(self) -> None:
        from dagster_project.landing.s3 import S3Landing

        self.count = 0
        original = S3Landing.fetch

        def fetch(store, file, scratch):  # noqa: ANN001, ANN202
            self.count += 1
            return original(store, file, scratch)

        S3Landing.fetch = fetch


def catchup_round(
    root: Path, endpoint: str, zone: str, way: str, handled: dict, counter: FetchCounter
) -> dict:
    data = Path(tempfile.mkdtemp(dir=root))
    settings = Settings.for_data_dir(
        data, landing_uri=f"s3://{BUCKET}/{zone}", s3_endpoint_url=endpoint, s3_region=REGION
    )
    if zone == "big":
        commit_handled(settings, handled, per_commit=1_000)
        if record_missing is not None:  # the one backfill an existing table gets
            catalog = open_catalog(settings)
            record_missing(catalog, "orders", catalog.load_table("raw.orders"))
    elif record_missing is not None:  # an empty zone of a deployment that has run: no one-off creation
        handled_table(open_catalog(settings))
    # The floor both ways share: one listing of the zone (S3 has no cheaper way to learn what landed).
    listing = time.perf_counter()
    listed = sum(1 for _ in open_landing(settings).list("orders/"))
    list_seconds = time.perf_counter() - listing
    counter.count = 0
    start = time.perf_counter()
    pending = (pending_work if way == "manifest" else old_pending_work)(settings)
    decided = time.perf_counter()
    decide_fetches = counter.count
    keys = [key for dataset, key in pending.files if dataset == "orders"]
    report = ingest_dataset(
        settings, load_registry(settings.sources_file)["orders"], run_id="bench", keys=keys
    )
    seconds = time.perf_counter() - start
    assert len(report.ingested) == len(keys), (report.ingested, report.skipped)
    return {
        "zone": zone,
        "way": way,
        "seconds": round(seconds, 3),
        "decide_seconds": round(decided - start, 3),  # listing, table and handled versions: what is due
        "ingest_seconds": round(seconds - (decided - start), 3),
        "listed": listed,
        "list_seconds": round(list_seconds, 3),
        "due": len(keys),
        "fetches_deciding": decide_fetches,
        "fetches_total": counter.count,
    }


def lookup_rounds(root: Path, files: int, per_commit: int, rounds: int) -> dict:
    """A sensor's handled-version lookup over `files` handled files: the manifest against the old walk."""
    settings = Settings.for_data_dir(root / "lookup", sensor_min_file_age_seconds=0)
    dataset = load_registry(settings.sources_file)["orders"]
    versions = {
        f"{settings.landing_uri}/orders/h{i:06d}.csv": (blake3(str(i).encode()).hexdigest(), f"{100 + i}-{i}")
        for i in range(files)
    }
    started = time.perf_counter()
    commit_handled(settings, versions, per_commit=per_commit)
    if record_missing is not None:  # one manifest append per commit, as the runs append them
        catalog = open_catalog(settings)
        table = catalog.load_table("raw.orders")
        for snapshot in table.metadata.snapshots:
            record_handled(catalog, snapshot_rows("orders", table, snapshot, "published", "main"))
    prepared = time.perf_counter() - started

    def old() -> set:
        catalog = open_catalog(settings)
        return landing_versions(catalog.load_table(dataset.table)) | quarantined_landing_versions(
            catalog, dataset.name, duplicates=True
        )

    contenders = {"old walk": old}
    if record_missing is not None:
        contenders["manifest"] = lambda: _handled_versions(settings, dataset)
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, lookup in contenders.items():
            start = time.perf_counter()
            found = lookup()
            seconds[name].append(time.perf_counter() - start)
            assert len(found) == files, (name, len(found))
    return {
        "handled_files": files,
        "snapshots": -(-files // per_commit),
        "prepare_seconds": round(prepared, 1),
        "seconds": {name: [round(s, 3) for s in values] for name, values in seconds.items()},
        "median_seconds": {name: round(statistics.median(values), 3) for name, values in seconds.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--handled", type=int, default=10_000)
    parser.add_argument("--new", type=int, default=10)
    parser.add_argument("--lookup-files", type=int, default=100_000)
    parser.add_argument("--lookup-per-commit", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--old-rounds", type=int, default=1, help="rounds of the old walk (minutes each)")
    args = parser.parse_args()
    out = load_settings().data_dir / "bench"
    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="bench-catchup-"))
    load = os.getloadavg()

    lookup = lookup_rounds(root, args.lookup_files, args.lookup_per_commit, args.rounds)
    print(json.dumps(lookup, indent=2), flush=True)

    for name in UNSET:
        os.environ.pop(name, None)
    with S3Server() as server:
        os.environ.update(s3_env(server.endpoint_url))
        client = server.client()
        client.create_bucket(Bucket=BUCKET)
        started = time.perf_counter()
        handled_objects = {f"orders/h{i:05d}.csv": handled_content(i) for i in range(args.handled)}
        new_objects = {f"orders/new{j:02d}.csv": new_content(j) for j in range(args.new)}
        upload(client, "big/", handled_objects | new_objects)
        upload(client, "empty/", new_objects)
        listing = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="big/orders/h"):
            listing.update({o["Key"].removeprefix("big/"): o["ETag"].strip('"') for o in page["Contents"]})
        handled = {
            f"s3://{BUCKET}/big/{key}": (blake3(body).hexdigest(), listing[key])
            for key, body in handled_objects.items()
        }
        uploaded = time.perf_counter() - started
        counter = FetchCounter()
        ways = ["manifest", "old walk"] if record_missing is not None else ["old walk"]
        runs = []
        for round_ in range(args.rounds):
            for way in ways if round_ < args.old_rounds else ways[:1]:
                for zone in ("big", "empty"):
                    runs.append(catchup_round(root, server.endpoint_url, zone, way, handled, counter))
                    print(json.dumps(runs[-1]), flush=True)

    def median(way: str, zone: str, field: str = "seconds") -> float:
        return statistics.median(r[field] for r in runs if r["way"] == way and r["zone"] == zone)

    catchup = {
        way: {
            "big_seconds": median(way, "big"),
            "empty_seconds": median(way, "empty"),
            "ratio": round(median(way, "big") / median(way, "empty"), 2),
            "big_list_seconds": median(way, "big", "list_seconds"),
            "empty_list_seconds": median(way, "empty", "list_seconds"),
            # What the zone's size adds beyond its one listing (the part the manifest is about).
            "ratio_beyond_listing": round(
                (median(way, "big") - median(way, "big", "list_seconds"))
                / (median(way, "empty") - median(way, "empty", "list_seconds")),
                2,
            ),
            "big_fetches": int(median(way, "big", "fetches_total")),
            "empty_fetches": int(median(way, "empty", "fetches_total")),
        }
        for way in ways
        if any(r["way"] == way for r in runs)  # `--old-rounds 0` measures today's code only
    }
    ours = "manifest" if "manifest" in catchup else "old walk"
    lookup_ours = lookup["median_seconds"].get("manifest", lookup["median_seconds"]["old walk"])
    passed = catchup[ours]["ratio"] <= 2 and lookup_ours <= 2 and catchup[ours]["big_fetches"] == args.new
    report = {
        "benchmark": "catchup",
        "handled_objects": args.handled,
        "new_files": args.new,
        "upload_seconds": round(uploaded, 1),
        "catchup": catchup,
        "catchup_runs": runs,
        "lookup": lookup,
        "targets": TARGETS,
        "load_average_at_start": [round(x, 2) for x in load],
        "cpus": os.cpu_count(),
        "pass": passed,
        "report_rows": [
            {
                "benchmark": f"catch-up on S3, {args.handled:,} handled + {args.new} new ({way})",
                "ours": f"{c['big_seconds']} s, {c['big_fetches']} GETs",
                "baseline": f"into an empty zone {c['empty_seconds']} s, {c['empty_fetches']} GETs",
                "ratio": f"{c['ratio']}× ({c['ratio_beyond_listing']}× beyond one listing of "
                f"{c['big_list_seconds']} s)",
                "target": TARGETS["catchup_ratio"],
                "peak_rss_mib": None,
                "input": f"moto_server, {args.new} files of 1,000 rows",
                "pass": c["ratio"] <= 2 and c["big_fetches"] == args.new,
            }
            for way, c in catchup.items()
        ]
        + [
            {
                "benchmark": f"sensor handled lookup, {args.lookup_files:,} handled files ({name})",
                "ours": f"{seconds} s",
                "baseline": f"old walk {lookup['median_seconds']['old walk']} s",
                "ratio": f"{round(seconds / lookup['median_seconds']['old walk'], 2)}×",
                "target": TARGETS["lookup"],
                "peak_rss_mib": None,
                "input": f"{lookup['snapshots']} snapshots",
                "pass": seconds <= 2,
            }
            for name, seconds in lookup["median_seconds"].items()
        ],
    }
    (out / "catchup.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k not in ("catchup_runs", "report_rows")}, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
