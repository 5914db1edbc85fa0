"""The landing zone: lists landed files with a version identity and hands them out as local files."""

from __future__ import annotations

import filecmp
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from blake3 import blake3

from dagster_project.settings import Settings

if TYPE_CHECKING:
    from dagster_project.landing.s3 import S3Landing, S3Quarantine

CHUNK = 4 << 20


@dataclass(frozen=True, order=True)
class LandedFile:
    """One version of one file in the landing zone.

    `key` is relative to the landing root (`orders/orders_2026-11-01.csv`); the version is the
    ETag where the store has one (S3), else size and modification time.
    """

    mtime_ns: int
    key: str
    uri: str
    size: int
    etag: str | None = None

    @property
    def version(self) -> str:
        return self.etag or f"{self.size}-{self.mtime_ns}"

    @property
    def name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def local_path(uri: str) -> Path:
    """The local path of a `file://` URI (or of a plain path)."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path) if parsed.scheme else uri)
    raise ValueError(f"{uri} is not a local path")


def checksum_file(path: Path) -> str:
    """BLAKE3 of the file's bytes: a cryptographic content hash about 4x faster than SHA-256."""
    digest = blake3()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class LocalLanding:
    """A landing zone on the local filesystem (the embedded default: `.data/landing`)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.root = local_path(self.uri)

    def list(self, prefix: str) -> Iterator[LandedFile]:
        """Every file under `prefix` (relative to the root), in no particular order."""
        base = self.root / prefix
        if not base.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
            for filename in filenames:
                path = Path(dirpath) / filename
                try:
                    stat = path.stat()
                except FileNotFoundError:  # removed between listing and stat
                    continue
                key = path.relative_to(self.root).as_posix()
                yield LandedFile(mtime_ns=stat.st_mtime_ns, key=key, uri=path.as_uri(), size=stat.st_size)

    def stat(self, key: str) -> LandedFile:
        """The current version of one file.

        Raises:
            FileNotFoundError: No such file in the landing zone.
        """
        path = self.root / key
        stat = path.stat()
        return LandedFile(mtime_ns=stat.st_mtime_ns, key=key, uri=path.as_uri(), size=stat.st_size)

    @contextmanager
    def fetch(self, file: LandedFile, scratch: Path) -> Iterator[tuple[Path, str]]:
        """The file as a local path plus its checksum; the original is never changed."""
        path = self.root / file.key
        yield path, checksum_file(path)

    def put_if_changed(self, key: str, source: Path) -> bool:
        """Copy `source` to `key` unless the same bytes are there; returns whether it wrote.

        The copy is written under a hidden name and renamed, so a sensor never sees half a file.
        """
        target = self.root / key
        if target.exists() and filecmp.cmp(source, target, shallow=False):
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        shutil.copyfile(source, partial)
        partial.replace(target)
        return True


class LocalQuarantine:
    """Where rejected files are copied, each with a JSON sidecar saying why."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.root = local_path(self.uri)

    def put(self, key: str, source: Path, sidecar: str) -> str:
        """Copy `source` to `<root>/<key>` and write `<key>.json`; returns the copy's URI."""
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        Path(f"{target}.json").write_text(sidecar, encoding="utf-8")
        return target.as_uri()


def _open(uri: str, variable: str, local: type, s3_name: str, settings: Settings):  # noqa: ANN202
    scheme = urlparse(uri).scheme
    if scheme in ("", "file"):
        return local(uri)
    if scheme in ("s3", "s3a"):
        from dagster_project.landing import s3  # boto3 only when S3 is configured

        return getattr(s3, s3_name)(uri, endpoint_url=settings.s3_endpoint_url, region=settings.s3_region)
    raise ValueError(f"{variable}={uri}: scheme {scheme!r} is not supported; use file:// or s3://")


def open_landing(settings: Settings) -> LocalLanding | S3Landing:
    """The configured landing zone: a local folder, or an S3 bucket and prefix."""
    return _open(settings.landing_uri, "FOUNDATION_LANDING_URI", LocalLanding, "S3Landing", settings)


def open_quarantine(settings: Settings) -> LocalQuarantine | S3Quarantine:
    """The configured quarantine area: a local folder, or an S3 bucket and prefix."""
    return _open(
        settings.quarantine_uri, "FOUNDATION_QUARANTINE_URI", LocalQuarantine, "S3Quarantine", settings
    )
