"""S3Landing and S3Quarantine over real HTTP against moto_server: paging, versions, streaming, outages."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from blake3 import blake3
from botocore.awsrequest import AWSResponse
from botocore.response import StreamingBody

from dagster_project.landing.s3 import LandingBucketMissing, LandingUnavailable, S3Landing, S3Quarantine
from dagster_project.landing.store import CHUNK, LandingEntryRefused, Skipped, checksum_fd, quarantine_key
from tests.servers.s3 import REGION, S3Server

pytestmark = pytest.mark.slow  # a moto_server over HTTP, with outages and retries

# The fixtures, until tests/conftest.py imports them for every test (then drop these two lines).


def _landing(server: S3Server, uri: str, **options: float) -> S3Landing:
    return S3Landing(uri, endpoint_url=server.endpoint_url, region=REGION, **options)  # type: ignore[arg-type]


def _checksum(path: Path) -> str:
    """The checksum the local landing zone takes of a file (from its open descriptor)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return checksum_fd(fd)
    finally:
        os.close(fd)


def _put_many(server: S3Server, bucket: str, keys: list[str]) -> None:
    client = server.client(max_pool_connections=32)
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda key: client.put_object(Bucket=bucket, Key=key, Body=key.encode()), keys))


@pytest.fixture
def bucket(s3_server: S3Server, s3_credentials: dict[str, str]) -> str:
    """A new, empty bucket on the shared server."""
    name = f"landing-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    return name


def test_list_paginates_and_hands_out_relative_keys(s3_server: S3Server, bucket: str) -> None:
    keys = [f"orders/2026/orders_{i:05d}.csv" for i in range(2500)]
    started_ns = time.time_ns()
    _put_many(s3_server, bucket, keys)
    _put_many(s3_server, bucket, ["customers/c.csv", "orders_archive/old.csv", "orders/_tmp/part-0.csv"])
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="orders/sub/", Body=b"")  # a "directory marker"
    finished_ns = time.time_ns()
    landing = _landing(s3_server, f"s3://{bucket}")
    pages: list[str] = []
    landing.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kwargs: pages.append("page"))

    files = list(landing.list("orders/"))

    assert len(pages) == 3  # S3 pages hold at most 1,000 keys
    assert sorted(f.key for f in files) == keys
    one = next(f for f in files if f.key == keys[7])
    assert one.uri == f"s3://{bucket}/{keys[7]}"
    assert one.size == len(keys[7])
    assert one.etag == hashlib.md5(keys[7].encode()).hexdigest()  # single-part ETag, quotes stripped
    assert one.version == one.etag
    assert all(isinstance(f.mtime_ns, int) for f in files)
    # S3 (and moto) keep LastModified to the second.
    assert all(started_ns - 1_000_000_000 <= f.mtime_ns <= finished_ns for f in files)
    assert sorted(f.key for f in landing.list("orders")) == keys  # a prefix is a folder, not a string prefix


def test_a_root_prefix_hands_out_keys_relative_to_it(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="team-a/orders/a.csv", Body=b"a,b\n1,2\n")
    client.put_object(Bucket=bucket, Key="team-a/orders/", Body=b"")
    client.put_object(Bucket=bucket, Key="team-b/orders/b.csv", Body=b"x\n")
    landing = _landing(s3_server, f"s3://{bucket}/team-a/")

    (file,) = landing.list("orders/")

    assert landing.uri == f"s3://{bucket}/team-a"
    assert list(_landing(s3_server, f"s3a://{bucket}/team-a").list("orders/")) == [file]  # Hadoop's scheme
    assert (file.key, file.name, file.uri) == ("orders/a.csv", "a.csv", f"s3://{bucket}/team-a/orders/a.csv")
    assert [f.key for f in landing.list("")] == ["orders/a.csv"]
    assert landing.stat("orders/a.csv") == file
    with landing.fetch(file, tmp_path) as (path, checksum):
        assert path.read_bytes() == b"a,b\n1,2\n"
        assert checksum == blake3(b"a,b\n1,2\n").hexdigest()


def test_a_modified_object_is_a_new_version(s3_server: S3Server, bucket: str) -> None:
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="orders/o.csv", Body=b"id\n1\n")
    landing = _landing(s3_server, f"s3://{bucket}")
    (before,) = landing.list("orders/")

    client.put_object(Bucket=bucket, Key="orders/o.csv", Body=b"id\n1\n2\n")
    (after,) = landing.list("orders/")

    assert after.key == before.key
    assert after.etag != before.etag and after.version != before.version
    assert after.mtime_ns >= before.mtime_ns
    assert after.size == 7


def test_stat_finds_an_object_and_names_a_missing_one(s3_server: S3Server, bucket: str) -> None:
    s3_server.client().put_object(Bucket=bucket, Key="orders/o.csv", Body=b"id\n1\n")
    landing = _landing(s3_server, f"s3://{bucket}")

    assert landing.stat("orders/o.csv") == next(landing.list("orders/"))
    with pytest.raises(FileNotFoundError, match=re.escape(f"s3://{bucket}/orders/missing.csv")):
        landing.stat("orders/missing.csv")


def test_fetch_streams_in_chunks_to_scratch_and_cleans_up(
    s3_server: S3Server,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = os.urandom(20 << 20)
    s3_server.client().put_object(Bucket=bucket, Key="orders/big.csv.gz", Body=data)
    reference = tmp_path / "reference.csv.gz"
    reference.write_bytes(data)
    landing = _landing(s3_server, f"s3://{bucket}")
    (file,) = landing.list("orders/")
    reads: list[int | None] = []
    read = StreamingBody.read
    monkeypatch.setattr(StreamingBody, "read", lambda self, amt=None: reads.append(amt) or read(self, amt))
    scratch = tmp_path / "work" / "run-1"  # does not exist yet

    tracemalloc.start()
    try:
        with landing.fetch(file, scratch) as (path, checksum):
            peak = tracemalloc.get_traced_memory()[1]
            assert path.parent == scratch and path.name.endswith("-big.csv.gz")
            assert path.stat().st_size == len(data)
            assert checksum == blake3(data).hexdigest() == _checksum(path)
    finally:
        tracemalloc.stop()

    assert not path.exists() and list(scratch.iterdir()) == []
    assert None not in reads and max(r for r in reads if r) <= CHUNK and len(reads) > len(data) // CHUNK
    assert peak < 3 * CHUNK, f"fetch held {peak} bytes at once"  # a chunk read and its buffer, not 20 MB


def test_fetch_removes_the_temp_file_when_the_block_fails(
    s3_server: S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    s3_server.client().put_object(Bucket=bucket, Key="orders/o.csv", Body=b"id\n1\n")
    landing = _landing(s3_server, f"s3://{bucket}")
    (file,) = landing.list("orders/")

    with pytest.raises(ZeroDivisionError), landing.fetch(file, tmp_path) as (path, _):
        assert path.exists()
        1 / 0  # noqa: B018

    assert list(tmp_path.iterdir()) == []


def test_quarantine_put_writes_the_copy_and_its_sidecar(
    s3_server: S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    source = tmp_path / "bad.csv"
    source.write_bytes(b"not,a\ncsv")
    sidecar = json.dumps({"reason": "unreadable", "line": 2})
    quarantine = S3Quarantine(
        f"s3://{bucket}/quarantine/", endpoint_url=s3_server.endpoint_url, region=REGION
    )

    uri = quarantine.put("orders/abc123-bad.csv", source, sidecar)

    assert uri == f"s3://{bucket}/quarantine/orders/abc123-bad.csv"
    client = s3_server.client()
    copy = client.get_object(Bucket=bucket, Key="quarantine/orders/abc123-bad.csv")
    assert copy["Body"].read() == b"not,a\ncsv"
    note = client.get_object(Bucket=bucket, Key="quarantine/orders/abc123-bad.csv.json")
    assert note["ContentType"] == "application/json"
    assert json.loads(note["Body"].read()) == {"reason": "unreadable", "line": 2}


def test_an_endpoint_that_stops_mid_listing_is_unavailable_then_recovers(
    s3_credentials: dict[str, str],
) -> None:
    keys = [f"orders/o_{i:03d}.csv" for i in range(120)]
    with S3Server() as server:  # its own server: stopping it must not disturb other tests
        server.client().create_bucket(Bucket="outage")
        _put_many(server, "outage", keys)
        landing = _landing(server, "s3://outage", max_attempts=2, connect_timeout=1, read_timeout=2)

        def small_pages(params: dict, **kwargs: object) -> None:
            params["MaxKeys"] = 50

        landing.client.meta.events.register("before-parameter-build.s3.ListObjectsV2", small_pages)
        listing: Iterator = landing.list("orders/")
        assert len(list(itertools.islice(listing, 50))) == 50  # the first page
        server.stop()
        started = time.monotonic()
        with pytest.raises(LandingUnavailable) as caught:
            list(listing)
        assert time.monotonic() - started < 5
        message = str(caught.value)
        assert server.endpoint_url in message and "s3://outage" in message
        assert "after 2 attempts" in message and "EndpointConnectionError" in message

        server.start()  # same port; moto forgets everything, so land the objects again
        server.client().create_bucket(Bucket="outage")
        _put_many(server, "outage", keys)
        assert sorted(f.key for f in landing.list("orders/")) == keys


class _Body:
    """The raw body of a canned response, as botocore reads it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **kwargs: object) -> Iterator[bytes]:
        yield self.data


def _fail_first(count: int, calls: list[str]):
    def before_send(request, **kwargs: object) -> AWSResponse | None:
        calls.append(request.url)
        if len(calls) > count:
            return None  # send it for real
        error = b"<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>"
        return AWSResponse(request.url, 503, {"Content-Type": "application/xml"}, _Body(error))

    return before_send


def test_transient_server_errors_are_retried(s3_server: S3Server, bucket: str) -> None:
    s3_server.client().put_object(Bucket=bucket, Key="orders/o.csv", Body=b"id\n1\n")
    landing = _landing(s3_server, f"s3://{bucket}")
    calls: list[str] = []
    landing.client.meta.events.register("before-send.s3.ListObjectsV2", _fail_first(2, calls))

    assert [f.key for f in landing.list("orders/")] == ["orders/o.csv"]
    assert len(calls) == 3


def test_server_errors_that_persist_make_the_landing_unavailable(s3_server: S3Server, bucket: str) -> None:
    landing = _landing(s3_server, f"s3://{bucket}", max_attempts=3)
    calls: list[str] = []
    landing.client.meta.events.register("before-send.s3.ListObjectsV2", _fail_first(99, calls))

    with pytest.raises(LandingUnavailable, match="HTTP 503 ServiceUnavailable after 3 attempts"):
        list(landing.list("orders/"))
    assert len(calls) == 3


def test_a_missing_bucket_is_named_with_the_fix(
    s3_server: S3Server, s3_credentials: dict[str, str], tmp_path: Path
) -> None:
    landing = _landing(s3_server, "s3://no-such-bucket/team-a")
    quarantine = S3Quarantine("s3://no-such-bucket/q", endpoint_url=s3_server.endpoint_url, region=REGION)
    source = tmp_path / "f.csv"
    source.write_text("x\n")

    for attempt in (lambda: list(landing.list("orders/")), lambda: landing.stat("orders/o.csv")):
        with pytest.raises(LandingBucketMissing, match="bucket 'no-such-bucket' does not exist.*create it"):
            attempt()
    with pytest.raises(LandingUnavailable, match="no-such-bucket.*FOUNDATION_QUARANTINE_URI"):
        quarantine.put("orders/f.csv", source, "{}")


def test_only_s3_uris_are_accepted() -> None:
    for uri in ("file:///tmp/landing", "s3://", "bucket/prefix"):
        with pytest.raises(ValueError, match="not an S3 URI"):
            S3Landing(uri, endpoint_url="http://127.0.0.1:9", region=REGION)


def test_keys_that_would_leave_the_prefix_are_skipped_and_refused(s3_server: S3Server, bucket: str) -> None:
    client = s3_server.client()
    unsafe = ["orders/../outside.csv", "orders//empty-segment.csv", "orders/./dot.csv", "orders/a/../b.csv"]
    for key in [*unsafe, "orders/ok.csv"]:
        client.put_object(Bucket=bucket, Key=key, Body=b"id\n1\n")
    landing = _landing(s3_server, f"s3://{bucket}")
    skipped: list[Skipped] = []

    assert [f.key for f in landing.list("orders/", skipped=skipped)] == ["orders/ok.csv"]

    assert sorted(s.key for s in skipped) == sorted(unsafe)
    assert {s.why for s in skipped} == {"path escapes the landing prefix", "empty path segment"}
    for key in unsafe:
        with pytest.raises(LandingEntryRefused, match=re.escape(f"{key}: not read")):
            landing.stat(key)
    assert list(landing.list("../", skipped=skipped)) == []


def test_fetch_reports_the_version_whose_bytes_it_read(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="orders/o.csv", Body=b"id\n1\n")
    landing = _landing(s3_server, f"s3://{bucket}")
    (listed,) = landing.list("orders/")
    client.put_object(Bucket=bucket, Key="orders/o.csv", Body=b"id\n1\n2\n")  # replaced after listing

    with landing.fetch(listed, tmp_path) as fetched:
        path, checksum = fetched  # callers unpack it as before
        assert path.read_bytes() == b"id\n1\n2\n" and checksum == blake3(b"id\n1\n2\n").hexdigest()

    current = landing.stat("orders/o.csv")
    assert fetched.version == current.etag != listed.etag
    assert fetched.file == current and fetched.file.size == 7


def test_any_legal_name_is_listed_fetched_and_quarantined(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    names = [
        "with space.csv",
        "hash#1.csv",
        "percent%41.csv",
        "question?.csv",
        "star*[1].csv",
        "quotes'\".csv",
        "tab\tand\x7fdel.csv",  # moto cannot store a newline in a key (S3 can)
        "-leading-dash.csv",
        "ünïcødé-日本語.csv",
        "é" * 125 + ".csv",  # 254 bytes
    ]
    client = s3_server.client()
    for name in names:
        client.put_object(Bucket=bucket, Key=f"orders/{name}", Body=name.encode())
    landing = _landing(s3_server, f"s3://{bucket}")
    quarantine = S3Quarantine(f"s3://{bucket}/quarantine", endpoint_url=s3_server.endpoint_url, region=REGION)

    listed = {f.key: f for f in landing.list("orders/")}

    assert sorted(listed) == sorted(f"orders/{n}" for n in names)
    for name in names:
        file = listed[f"orders/{name}"]
        assert landing.stat(file.key) == file
        with landing.fetch(file, tmp_path / "scratch") as (path, checksum):
            assert path.read_bytes() == name.encode()
            key = quarantine_key("orders", checksum, file.key)
            uri = quarantine.put(key, path, json.dumps({"landing_key": file.label}))
        copy = client.get_object(Bucket=bucket, Key=f"quarantine/{key}")["Body"].read()
        assert uri.endswith(key) and copy == name.encode()
        assert all(len(f"{part}.json".encode()) <= 255 for part in key.split("/"))


def test_odd_names_ingest_end_to_end_and_a_long_one_is_quarantined_on_s3(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    from dagster_project.ingest.run import ingest_dataset
    from dagster_project.registry import load_registry
    from dagster_project.settings import Settings
    from tests.conftest import orders_csv

    settings = Settings.for_data_dir(
        tmp_path / "data",
        landing_uri=f"s3://{bucket}/landing",
        quarantine_uri=f"s3://{bucket}/quarantine",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_region=REGION,
    )
    client = s3_server.client()
    good = ["orders/with space #1.csv", "orders/star*?[1].csv", "orders/-ünïcødé 日本語.csv"]
    for index, key in enumerate(good):
        client.put_object(Bucket=bucket, Key=f"landing/{key}", Body=orders_csv(index * 10 + 1, 2).encode())
    long_key = "orders/" + "é" * 123 + ".csv"  # 250 bytes, empty: quarantined
    client.put_object(Bucket=bucket, Key=f"landing/{long_key}", Body=b"")

    report = ingest_dataset(settings, load_registry(settings.sources_file)["orders"], run_id="s3-odd")

    assert sorted(f["file"] for f in report.ingested) == sorted(good)
    (record,) = report.quarantined
    copy_key = record.quarantine_file.removeprefix(f"s3://{bucket}/")
    # Each part fits a filesystem too (`aws s3 sync` of the quarantine to a laptop), sidecar included.
    assert all(len(f"{part}.json".encode()) <= 255 for part in copy_key.split("/"))
    assert client.get_object(Bucket=bucket, Key=copy_key)["Body"].read() == b""
    sidecar = json.loads(client.get_object(Bucket=bucket, Key=f"{copy_key}.json")["Body"].read())
    assert sidecar["landing_key"] == long_key
