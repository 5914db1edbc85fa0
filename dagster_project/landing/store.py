"""The landing zone: lists landed files with a version identity and hands them out as local files.

The landing zone is a boundary. Only regular files below the root are ever read: symbolic links
(to anything, inside or outside the zone), FIFOs, sockets and devices are skipped without being
opened or followed, logged and reported to the caller; keys that would leave the root (`..`, an
absolute path, a link on the way) are refused. This module holds what every store shares (the
types and errors); `local.py` and `s3.py` are the stores, `zone.py` opens the configured one.
"""

from __future__ import annotations

import logging
import os
import stat as st
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from blake3 import blake3

from dagster_project.errors import EnvironmentFailure, FoundationError
from dagster_project.landing.names import label
from dagster_project.landing.names import quarantine_key as quarantine_key  # the engine imports it from here

log = logging.getLogger(__name__)

CHUNK = 4 << 20
SYMLINK = "symbolic link"


class LandingEntryRefused(FoundationError):
    """A landing key that is not a regular file below the root: it is never read.

    `key` is the refused key, `why` the reason in words ("symbolic link", "FIFO", "device",
    "path escapes the landing prefix", ...).
    """

    def __init__(self, key: str, why: str) -> None:
        self.key, self.why = key, why
        super().__init__(
            f"{label(key)}: not read ({why}); the landing zone only reads regular files below its "
            "root and never follows links. Put the file itself there to ingest it."
        )


class LandingNotReadable(EnvironmentFailure):
    """The platform may not read a file or folder of the landing zone (permission denied)."""


class LandingUnavailable(EnvironmentFailure):
    """The object store could not be reached after retries.

    The message names the endpoint and bucket and what to check. Declared here, not in s3.py, so that
    code catching it (the raw asset) does not import boto3 with the definitions.
    """


class LandingBucketMissing(LandingUnavailable):
    """The bucket does not exist; the message names it and says to create it."""


class FileChanged(Exception):  # noqa: N818 - named for what happened, like FileNotFoundError
    """The file was modified while it was read: nothing read from it may be used.

    Not a reason to quarantine: skip the file ("changed while it was read; it will be taken
    again"); its new version is due and is read once the writer is done.
    """


@dataclass(frozen=True, order=True)
class Skipped:
    """An entry of the landing zone that a listing did not hand out, and why (never its content)."""

    key: str
    why: str


def skip(skipped: list[Skipped] | None, key: str, why: str) -> None:
    """Log a skipped entry (a warning naming the key and what it is) and add it to `skipped`."""
    log.warning("%s: skipped (%s); it is never read or followed", label(key), why)
    if skipped is not None:
        skipped.append(Skipped(key, why))


@dataclass(frozen=True, order=True)
class LandedFile:
    """One version of one file in the landing zone.

    `key` is relative to the landing root (`orders/orders_2026-11-01.csv`); the version is the
    ETag where the store has one (S3), else size, modification time, status-change time and
    inode: an in-place edit that restores size and mtime (`cp -p`, `rsync -t`) still changes the
    ctime, and a replacement by rename changes the inode.
    """

    mtime_ns: int
    key: str
    uri: str
    size: int
    etag: str | None = None
    ctime_ns: int = 0
    inode: int = 0

    @property
    def version(self) -> str:
        if self.etag:
            return self.etag
        if self.inode:
            return f"{self.size}-{self.mtime_ns}-{self.ctime_ns}-{self.inode}"
        return f"{self.size}-{self.mtime_ns}"

    @property
    def changed_ns(self) -> int:
        """When the file last changed: the newer of mtime and ctime (sensors order by it)."""
        return max(self.mtime_ns, self.ctime_ns)

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]

    @property
    def label(self) -> str:
        """The key as safe text for messages, logs, JSON and Iceberg strings (see `names.label`)."""
        return label(self.key)


@dataclass(frozen=True)
class Fetched:
    """What `fetch` yields: unpacks as `(path, checksum)`; `file` is the version actually read.

    `file` (and `version`) describe the bytes the checksum covers, which may be newer than the
    listed `LandedFile` when the file changed in between (a new S3 ETag, a new local inode).
    """

    path: Path
    checksum: str
    file: LandedFile

    @property
    def version(self) -> str:
        return self.file.version

    def __iter__(self) -> Iterator[Any]:
        return iter((self.path, self.checksum))


def local_path(uri: str) -> Path:
    """The local path of a `file://` URI (or of a plain path); undecodable bytes survive."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path, errors="surrogateescape") if parsed.scheme else uri)
    raise ValueError(f"{uri} is not a local path")


def checksum_fd(fd: int) -> str:
    """BLAKE3 of an open file's bytes, read by offset (the descriptor's own offset is not moved)."""
    digest = blake3()
    # One buffer, reused (no allocation per chunk), no larger than the file needs.
    buffer = bytearray(min(CHUNK, max(os.fstat(fd).st_size + 1, 1 << 16)))
    view = memoryview(buffer)
    offset = 0
    while count := os.preadv(fd, [buffer], offset):
        digest.update(view[:count])
        offset += count
    return digest.hexdigest()


def kind(mode: int) -> str:
    """What a non-regular entry is, in words."""
    if st.S_ISLNK(mode):
        return SYMLINK
    if st.S_ISFIFO(mode):
        return "FIFO"
    if st.S_ISSOCK(mode):
        return "socket"
    if st.S_ISBLK(mode) or st.S_ISCHR(mode):
        return "device"
    if st.S_ISDIR(mode):
        return "directory"
    return "not a regular file"


def scratch_name(name: str) -> str:
    """A short, plain ASCII file name ending like `name` (DuckDB detects compression by suffix)."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    return safe[-100:]
