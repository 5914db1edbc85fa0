"""The landing zone and quarantine on S3 (or any S3-compatible store), with bounded retries."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions
import botocore.session
from blake3 import blake3
from boto3.exceptions import S3UploadFailedError
from botocore.utils import parse_timestamp

from dagster_project.landing.names import unsafe_key, unsafe_prefix
from dagster_project.landing.store import (
    CHUNK,
    Fetched,
    LandedFile,
    LandingBucketMissing,
    LandingEntryRefused,
    LandingUnavailable,
    Skipped,
    scratch_name,
    skip,
)

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Exhausted transient failures: EndpointConnectionError and ConnectTimeoutError are ConnectionErrors;
# ConnectionClosedError, ReadTimeoutError and ResponseStreamingError (mid-download) are HTTPClientErrors.
_NETWORK_ERRORS = (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)
_THROTTLING_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"}


def _timestamp(value: object) -> datetime:
    """A response timestamp: ISO 8601 with a zone (every listed object's LastModified) by the standard
    library, about 30 times faster than botocore's dateutil parser, which took half of the client's time
    in a listing of 10,000 objects; anything else (HTTP dates of HeadObject, epochs, no zone) its way."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:  # without a zone botocore keeps it naive: leave that to it
                return parsed
    return parse_timestamp(value)


def _session() -> boto3.session.Session:
    """A boto3 session whose clients parse timestamps with `_timestamp` (botocore's documented hook)."""
    core = botocore.session.get_session()
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_timestamp)
    return boto3.session.Session(botocore_session=core)


def _epoch_ns(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _error(exc: botocore.exceptions.ClientError) -> tuple[str, int]:
    """The error code and HTTP status of a ClientError."""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return str(exc.response.get("Error", {}).get("Code", "")), int(status)


class _S3Area:
    """A bucket and root prefix, with a client whose failures become `LandingUnavailable`."""

    setting = "FOUNDATION_LANDING_URI"

    def __init__(
        self,
        uri: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        max_attempts: int = 5,
        connect_timeout: float = 5,
        read_timeout: float = 60,
    ) -> None:
        """Check the URI and build the client.

        Args:
            uri: `s3://bucket` or `s3://bucket/root/prefix/` (`s3a://` too; files get `s3://` URIs);
                keys are relative to the root prefix.
            endpoint_url: An S3-compatible endpoint (MinIO, moto); AWS's own when None.
            region: The bucket's region; the standard AWS chain's when None.
            max_attempts: Requests per call, the first included, before giving up.
            connect_timeout: Seconds to wait for a connection.
            read_timeout: Seconds to wait for data on an open connection.

        Raises:
            ValueError: `uri` is not an `s3://bucket[/prefix]` URI.
        """
        parsed = urlparse(uri)
        if parsed.scheme not in ("s3", "s3a") or not parsed.netloc:
            raise ValueError(f"{uri} is not an S3 URI; use s3://bucket or s3://bucket/prefix/")
        self.uri = uri.rstrip("/")
        self.bucket = parsed.netloc
        root = parsed.path.strip("/")
        self.root = f"{root}/" if root else ""
        self.max_attempts = max_attempts
        config = botocore.config.Config(
            # total_max_attempts counts the first try: max_attempts=5 is 5 requests, not 1 + 5 retries.
            retries={"total_max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        # Credentials come from the standard chain only (env, config files, instance role).
        self.client: Any = _session().client(
            "s3", endpoint_url=endpoint_url, region_name=region, config=config
        )

    @property
    def endpoint_url(self) -> str:
        """The endpoint actually used (AWS's own when none was given)."""
        return str(self.client.meta.endpoint_url)

    def _uri(self, full_key: str) -> str:
        return f"s3://{self.bucket}/{full_key}"

    def _unavailable(self, exc: Exception) -> LandingUnavailable:
        if isinstance(exc, botocore.exceptions.ClientError):
            code, status = _error(exc)
            attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) + 1
            what = f"kept failing with HTTP {status} {code}".rstrip()
        else:
            attempts, what = self.max_attempts, "did not answer"
        return LandingUnavailable(
            f"{self.uri}: the object store at {self.endpoint_url} {what} after {attempts} attempts "
            f"({type(exc).__name__}: {exc}). Check that it is running and FOUNDATION_S3_ENDPOINT_URL; "
            "nothing was ingested and the sensor cursor is unchanged."
        )

    def _missing_bucket(self) -> LandingBucketMissing:
        return LandingBucketMissing(
            f"{self.uri}: bucket {self.bucket!r} does not exist at {self.endpoint_url}; create it "
            f"(e.g. `aws s3 mb s3://{self.bucket}`) or point {self.setting} at an existing bucket."
        )

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Turn exhausted transient failures and a missing bucket into `LandingUnavailable`."""
        try:
            yield
        except _NETWORK_ERRORS as exc:
            raise self._unavailable(exc) from exc
        except (botocore.exceptions.ClientError, S3UploadFailedError) as exc:
            # upload_file wraps the ClientError in S3UploadFailedError, keeping it as the context.
            error = exc if isinstance(exc, botocore.exceptions.ClientError) else exc.__context__
            if isinstance(error, botocore.exceptions.ClientError):
                code, status = _error(error)
                if code == "NoSuchBucket":
                    raise self._missing_bucket() from exc
                if status >= 500 or code in _THROTTLING_CODES:
                    raise self._unavailable(error) from exc
            raise


class S3Landing(_S3Area):
    """A landing zone in an S3 bucket, optionally below a root prefix (`s3://bucket/team-a/`)."""

    page_size = 1000  # ListObjectsV2's maximum

    def list(self, prefix: str, skipped: list[Skipped] | None = None) -> Iterator[LandedFile]:
        """Every object under `prefix` (relative to the root, a "folder"), page by page, unordered.

        Directory markers (keys ending in `/`) and objects in "folders" below `prefix` whose name
        starts with `.` or `_` are skipped, as the local landing zone skips such directories.
        S3 has no links, but a key with `.`, `..` or empty segments (`a//b`) would name another
        path (or none) on a filesystem: it is skipped, logged and appended to `skipped`.

        Raises:
            LandingUnavailable: The store did not answer (possibly after some files were yielded).
        """
        why = unsafe_prefix(prefix)
        if why:
            skip(skipped, prefix, why)
            return
        base = self._base(prefix)
        pages = iter(
            self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base, PaginationConfig={"PageSize": self.page_size}
            )
        )
        while True:
            with self._translated():
                page = next(pages, None)
            if page is None:
                return
            for obj in page.get("Contents", []):
                if self._handed_out(obj["Key"], base, skipped):
                    yield self._landed(obj["Key"], obj["LastModified"], obj["Size"], obj["ETag"])

    def _base(self, prefix: str) -> str:
        return self.root + (prefix if not prefix or prefix.endswith("/") else f"{prefix}/")

    def _handed_out(self, full_key: str, base: str, skipped: list[Skipped] | None) -> bool:
        """Whether a listing of `base` hands out `full_key` (see `list`); an unsafe key is skipped."""
        if full_key.endswith("/") or not full_key.startswith(base):
            return False
        why = unsafe_key(full_key[len(self.root) :])  # before `..` passes for a hidden folder
        if why:
            skip(skipped, full_key[len(self.root) :], why)
            return False
        folders = full_key[len(base) :].split("/")[:-1]
        return not any(f.startswith((".", "_")) for f in folders)

    def notified(
        self,
        prefix: str,
        bucket: str,
        full_key: str,
        modified: datetime,
        size: int,
        etag: str,
        skipped: list[Skipped] | None = None,
    ) -> LandedFile | None:
        """The file an ObjectCreated event names, as `list(prefix)` would hand it out; None if it would not.

        Another bucket, a key outside the root or `prefix`, a directory marker or a hidden folder is
        None; an unsafe key is None and skipped as `list` skips it. The event's time stands for
        LastModified (its order and age; the version is the ETag, as listed).
        """
        if bucket != self.bucket or unsafe_prefix(prefix):
            return None
        if not self._handed_out(full_key, self._base(prefix), skipped):
            return None
        return self._landed(full_key, modified, size, etag)

    def _landed(self, full_key: str, modified: datetime, size: int, etag: str) -> LandedFile:
        return LandedFile(
            mtime_ns=_epoch_ns(modified),
            key=full_key[len(self.root) :],
            uri=self._uri(full_key),
            size=size,
            etag=etag.strip('"'),
        )

    def stat(self, key: str) -> LandedFile:
        """The current version of one object (HeadObject).

        Raises:
            FileNotFoundError: No such object in the landing zone.
            LandingEntryRefused: The key has `.`, `..` or empty segments (see `list`).
            LandingUnavailable: The store did not answer, or the bucket does not exist.
        """
        why = unsafe_key(key)
        if why:
            raise LandingEntryRefused(key, why)
        full_key = self.root + key
        with self._translated():
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=full_key)
            except botocore.exceptions.ClientError as exc:
                if _error(exc)[1] != 404:
                    raise
                try:  # a HEAD 404 has no body: ask whether the bucket itself is missing
                    self.client.head_bucket(Bucket=self.bucket)
                except botocore.exceptions.ClientError as bucket_exc:
                    if _error(bucket_exc)[1] == 404:
                        raise self._missing_bucket() from exc
                    raise
                raise FileNotFoundError(f"{self._uri(full_key)}: no such object in the landing zone") from exc
        return self._landed(full_key, head["LastModified"], head["ContentLength"], head["ETag"])

    @contextmanager
    def fetch(self, file: LandedFile, scratch: Path) -> Iterator[Fetched]:
        """The object streamed to a temporary file under `scratch`, plus the BLAKE3 of its bytes.

        Yields a `Fetched`, which unpacks as `(path, checksum)`. The object is read in chunks of
        `CHUNK` bytes, never whole, from one GetObject response (one object version, so it cannot
        change half-way); the temporary file's name ends like the object's (DuckDB detects
        compression from it) and it is deleted on exit. If the object changed since it was
        listed, the new bytes are read, and `Fetched.file` (and `.version`) carry that response's
        ETag, size and time: the version recorded is the one whose bytes were read.

        Raises:
            FileNotFoundError: The object is gone.
            LandingEntryRefused: The key has `.`, `..` or empty segments (see `list`).
            LandingUnavailable: The store did not answer, or the download broke off.
        """
        why = unsafe_key(file.key)
        if why:
            raise LandingEntryRefused(file.key, why)
        full_key = self.root + file.key
        scratch.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=scratch, prefix=".fetch-", suffix=f"-{scratch_name(file.name)}")
        path = Path(name)
        try:
            digest = blake3()
            with os.fdopen(handle, "wb") as out, self._translated():
                try:
                    response = self.client.get_object(Bucket=self.bucket, Key=full_key)
                except botocore.exceptions.ClientError as exc:
                    if _error(exc)[0] in ("NoSuchKey", "404"):
                        raise FileNotFoundError(f"{file.uri}: no such object in the landing zone") from exc
                    raise
                read = self._landed(
                    full_key, response["LastModified"], response["ContentLength"], response["ETag"]
                )
                if file.etag and read.etag != file.etag:
                    log.info("%s changed since it was listed; ingesting the current version", file.uri)
                body = response["Body"]
                try:
                    while chunk := body.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                finally:
                    body.close()
            yield Fetched(path, digest.hexdigest(), read)
        finally:
            path.unlink(missing_ok=True)

    def put_if_changed(self, key: str, source: Path) -> bool:
        """Upload `source` as `key` unless an object with the same bytes is there (by MD5 ETag)."""
        try:
            current = self.stat(key)
        except FileNotFoundError:
            current = None
        if current is not None and current.size == source.stat().st_size:
            digest = hashlib.md5(source.read_bytes(), usedforsecurity=False).hexdigest()
            if current.etag == digest:
                return False
        with self._translated():
            self.client.upload_file(str(source), self.bucket, self.root + key)
        return True


class S3Quarantine(_S3Area):
    """Where rejected files are copied in S3, each with a JSON sidecar saying why."""

    setting = "FOUNDATION_QUARANTINE_URI"

    def put(self, key: str, source: Path, sidecar: str) -> str:
        """Upload `source` to `<root>/<key>` and the sidecar to `<key>.json`; returns the copy's URI.

        Raises:
            LandingUnavailable: The store did not answer, or the bucket does not exist.
        """
        full_key = self.root + key
        with self._translated():
            self.client.upload_file(str(source), self.bucket, full_key)  # multipart when large
            self.client.put_object(
                Bucket=self.bucket,
                Key=f"{full_key}.json",
                Body=sidecar.encode("utf-8"),
                ContentType="application/json",
            )
        return self._uri(full_key)
