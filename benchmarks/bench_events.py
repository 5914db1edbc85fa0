"""Landing sensor tick with a large prefix: listing mode against notification mode (S3 events via SQS).

`moto_server` on 127.0.0.1 over HTTP serves S3 and SQS. The prefix `landing/orders/` holds
`--objects` objects (100,000 by default; small bodies, uploaded by many threads), then `--new` (10)
files land with the bucket sending their ObjectCreated events to the dataset's queue. One sensor
tick is timed in each mode, contenders alternating, medians of `--rounds`:

- listing (the baseline): `FOUNDATION_LANDING_QUEUE_URL` unset, the tick lists the whole prefix;
- notification: the tick drains the queue (its 10 messages) and lists nothing.

Both ticks make the same due decision and must request the same `--new` files: the cursor's
watermark is the newest object uploaded before them, with no lookback (the benchmark's only
artifice: the old objects count as handed out without a 100,000-entry cursor or handled index). Each
notification round sends the same event bodies to the queue again (a tick deletes them). A reconciling
listing (first tick, then at most hourly) costs what a listing-mode tick costs.

Run with `make bench-events` (`--objects 5000` for a quick run). Writes `.data/bench/events.json`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.servers: moto_server's harness

import dagster as dg  # noqa: E402

from dagster_project.defs.raw.sensors import build_landing_sensor  # noqa: E402
from dagster_project.defs.resources import Foundation  # noqa: E402
from dagster_project.registry import load_registry  # noqa: E402
from dagster_project.settings import Settings  # noqa: E402
from tests.servers.s3 import REGION, UNSET, S3Server, s3_env  # noqa: E402

TARGET = "notification tick at least 10× faster than listing at 100,000 objects"


def _upload(server: S3Server, bucket: str, count: int, threads: int) -> float:
    """`count` small objects under landing/orders/ (history: never due again); seconds taken."""
    client = server.client(max_pool_connections=threads * 2)
    body = b"order_id,customer_id,amount,ordered_at\n1,1,1.0,2026-01-01T00:00:00\n"
    started = time.perf_counter()

    def put(start: int) -> None:
        for n in range(start, min(start + 500, count)):
            client.put_object(Bucket=bucket, Key=f"landing/orders/history/{n:07d}.csv", Body=body)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, range(0, count, 500)))
    return time.perf_counter() - started


def _tick(sensor: dg.SensorDefinition, settings: Settings, cursor: str) -> tuple[float, list[str]]:
    context = dg.build_sensor_context(
        cursor=cursor,
        instance=dg.DagsterInstance.ephemeral(),
        resources={"foundation": Foundation.from_settings(settings)},
    )
    started = time.perf_counter()
    result = sensor(context)
    seconds = time.perf_counter() - started
    files = [f for r in result.run_requests for f in r.run_config["ops"]["raw__orders"]["config"]["files"]]
    return seconds, sorted(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    for name in UNSET:
        os.environ.pop(name, None)
    out = Path(".data/bench")
    out.mkdir(parents=True, exist_ok=True)
    with S3Server() as server, tempfile.TemporaryDirectory() as scratch:
        os.environ.update(s3_env(server.endpoint_url))
        bucket = f"events-{uuid.uuid4().hex[:8]}"
        s3 = server.client()
        sqs = boto3.session.Session().client("sqs", endpoint_url=server.endpoint_url, region_name=REGION)
        s3.create_bucket(Bucket=bucket)
        uploaded = _upload(server, bucket, args.objects, args.threads)
        print(f"{args.objects:,} objects uploaded in {uploaded:.1f} s", flush=True)
        queue = sqs.create_queue(QueueName=f"{bucket}-orders")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]
            },
        )
        watermark_ns = time.time_ns()  # the history is at or below it, the new files above it
        time.sleep(1.1)  # S3 times may be whole seconds: the new files are strictly newer
        new = [f"orders/new-{n:02d}.csv" for n in range(args.new)]
        for key in new:
            s3.put_object(Bucket=bucket, Key=f"landing/{key}", Body=b"order_id\n1\n")
        bodies = []
        while len(bodies) < args.new:
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages") or []
            for m in got:
                bodies.append(m["Body"])
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])

        listing = Settings.for_data_dir(
            Path(scratch),
            landing_uri=f"s3://{bucket}/landing",
            quarantine_uri=f"s3://{bucket}/quarantine",
            s3_endpoint_url=server.endpoint_url,
            s3_region=REGION,
            sensor_min_file_age_seconds=0,
            sensor_lookback_seconds=0,
        )
        notified = dataclasses.replace(listing, landing_queue_url=queue.replace("-orders", "-{dataset}"))
        sensor = build_landing_sensor(load_registry(listing.sources_file)["orders"], 15)
        cursor = json.dumps({"watermark_ns": watermark_ns, "recent": {}, "listed_ns": time.time_ns()})
        times: dict[str, list[float]] = {"listing": [], "notification": []}
        for _ in range(args.rounds):
            for way, settings in (("listing", listing), ("notification", notified)):
                if way == "notification":
                    for body in bodies:
                        sqs.send_message(QueueUrl=queue, MessageBody=body)
                seconds, files = _tick(sensor, settings, cursor)
                if files != sorted(new):
                    raise SystemExit(f"{way}: the tick requested {len(files)} files, not the {args.new} new")
                times[way].append(seconds)
                print(f"{way}: {seconds:.3f} s", flush=True)
    median = {way: round(statistics.median(t), 4) for way, t in times.items()}
    ratio = round(median["listing"] / median["notification"], 1)
    passed = args.objects < 100_000 or ratio >= 10
    report = {
        "benchmark": "events",
        "objects": args.objects,
        "new_files": args.new,
        "upload_seconds": round(uploaded, 1),
        "tick_seconds": median,
        "tick_runs": times,
        "speedup": ratio,
        "targets": TARGET,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "pass": passed,
        "report_rows": [
            {
                "benchmark": f"landing sensor tick, {args.objects:,} objects + {args.new} new (notification)",
                "ours": f"{median['notification']} s, no listing",
                "baseline": f"listing mode {median['listing']} s",
                "ratio": f"{ratio}× faster",
                "target": TARGET,
                "peak_rss_mib": None,
                "input": "moto_server S3 + SQS over HTTP, medians of "
                f"{args.rounds}; a reconciling listing costs the baseline, at most hourly",
                "pass": passed,
            }
        ],
    }
    (out / "events.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "report_rows"}, indent=2))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
