"""Listing the landing zone: the fast timestamp parser and concurrent listings change no file version."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import boto3
import botocore.config
import pytest
from botocore.utils import parse_timestamp

from dagster_project.ingest.run import landed_files, listed_files
from dagster_project.landing.s3 import S3Landing, _timestamp
from dagster_project.registry import Registry
from dagster_project.settings import Settings
from tests.servers.s3 import REGION, S3Server


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-30T22:51:12.000Z",  # what ListObjectsV2 sends
        "2026-11-30T22:51:12.123456Z",
        "2026-11-30T23:51:12+01:00",
        "2026-11-30T22:51:12",  # no zone: botocore keeps it naive, and so does the fallback
        "Mon, 30 Nov 2026 22:51:12 GMT",  # HeadObject / GetObject headers
        "1796078272",
        1796078272,
    ],
)
def test_a_timestamp_parses_to_what_botocore_gives(value: str | int) -> None:
    ours, theirs = _timestamp(value), parse_timestamp(value)

    assert ours == theirs
    assert (ours.tzinfo is None) == (theirs.tzinfo is None)
    if ours.tzinfo is not None:
        assert ours.astimezone(UTC) == theirs.astimezone(UTC)


def test_a_listing_over_pages_and_prefixes_has_the_versions_a_plain_boto3_listing_has(
    s3_server: S3Server, s3_credentials: dict[str, str]
) -> None:
    bucket = f"listing-{uuid.uuid4().hex[:12]}"
    client = s3_server.client(max_pool_connections=32)
    client.create_bucket(Bucket=bucket)
    keys = [f"orders/{part}/o{i:04d}.csv" for part, count in (("a", 550), ("b", 450)) for i in range(count)]
    keys += [f"orders/o{i}.csv" for i in range(3)] + ["customers/c.csv"]
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys))
    # botocore's own timestamp parser (dateutil), as every client had before
    plain = boto3.session.Session().client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=REGION,
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )
    expected = {
        obj["Key"]: (obj["ETag"].strip('"'), obj["Size"], obj["LastModified"])
        for page in plain.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="orders/")
        for obj in page["Contents"]
    }
    assert len(expected) == 1003  # two pages

    files = list(
        S3Landing(f"s3://{bucket}", endpoint_url=s3_server.endpoint_url, region=REGION).list("orders/")
    )

    assert {f.key: (f.version, f.size, f.mtime_ns) for f in files} == {
        key: (etag, size, _ns(modified)) for key, (etag, size, modified) in expected.items()
    }


def _ns(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def _drop(settings: Settings, key: str, text: str) -> None:
    path = Path(settings.landing_uri.removeprefix("file://")) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_datasets_listed_at_once_are_handed_out_in_order_as_listed_one_by_one(
    settings: Settings, registry: Registry
) -> None:
    for i in range(5):
        _drop(settings, f"orders/o{i}.csv", "order_id\n1\n")
    _drop(settings, "customers/c.csv", "customer_id\n1\n")
    datasets = list(registry)

    listed = [(dataset.name, files) for dataset, files in listed_files(settings, datasets)]

    assert listed == [(dataset.name, landed_files(settings, dataset)) for dataset in datasets]
    assert sum(len(files) for _, files in listed) == 6


def test_a_failed_listing_raises_at_its_turn_after_the_datasets_before_it(
    settings: Settings, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, broken, *_ = list(registry)
    _drop(settings, f"{first.prefix.rstrip('/')}/x.csv", "id\n1\n")
    real = landed_files

    def listing(settings: Settings, dataset, skipped=None):  # noqa: ANN001, ANN202
        if dataset.name == broken.name:
            raise OSError("the store did not answer")
        return real(settings, dataset, skipped)

    monkeypatch.setattr("dagster_project.ingest.run.landed_files", listing)
    handed_out = []
    with pytest.raises(OSError, match="did not answer"):
        for dataset, _files in listed_files(settings, list(registry)):
            handed_out.append(dataset.name)

    assert handed_out == [first.name]
