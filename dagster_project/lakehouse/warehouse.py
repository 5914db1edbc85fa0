"""What the warehouse itself holds, whatever a catalog says: table folders, metadata files, referenced files.

The catalog only points at each table's current metadata file; the warehouse keeps every metadata
file a table ever wrote. Reading it directly is how a lost catalog is detected and rebuilt, and
how orphan removal tells leftovers of this table from another table's data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlparse

from pyiceberg.exceptions import ValidationError
from pyiceberg.io import FileIO, load_file_io
from pyiceberg.serializers import FromInputFile
from pyiceberg.table.metadata import TableMetadata

from dagster_project.errors import EnvironmentFailure

METADATA_SUFFIX = ".metadata.json"
# What reading a metadata, manifest list or manifest file raises when the file is missing, cannot be
# read, or is not what it should be (pyiceberg wraps pydantic's errors in its own ValidationError).
READ_ERRORS = (OSError, ValueError, ValidationError)
# pyiceberg names metadata files `<version>-<uuid>.metadata.json` (five digits, zero padded).
_VERSION = re.compile(r"^(\d+)-.*\.metadata\.json$")


class WarehouseUnavailable(EnvironmentFailure):
    """The warehouse (a folder or an object store) could not be listed: retry once it is reachable."""


@dataclass(frozen=True)
class StoredFile:
    """A file as the object store lists it."""

    uri: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class MetadataFile:
    """One `<version>-<uuid>.metadata.json` file of a table folder."""

    uri: str
    version: int
    size: int
    modified: datetime


@dataclass(frozen=True)
class WarehouseTable:
    """A table folder `<warehouse>/<namespace>/<table>` with its metadata files, oldest version first."""

    identifier: str
    location: str
    metadata_files: tuple[MetadataFile, ...]

    @property
    def has_commits(self) -> bool:
        """Whether the table was ever committed to after its creation (version 0 holds no data).

        A lone version-0 file is also what a table creation in flight looks like for a moment
        (pyiceberg writes it before the catalog row), so it is never taken for old data.
        """
        return any(m.version > 0 for m in self.metadata_files)

    @property
    def newest_version(self) -> int:
        return max((m.version for m in self.metadata_files), default=-1)


def metadata_version(uri: str) -> int:
    """The version a metadata file's name carries; -1 when the name does not follow pyiceberg's pattern."""
    match = _VERSION.match(uri.rsplit("/", 1)[-1])
    return int(match.group(1)) if match else -1


def _entries(io: FileIO, location: str, recursive: bool) -> list[tuple[str, bool, StoredFile | None]]:
    """(uri, is a folder, file) under a location; an absent location lists as empty."""
    parsed = urlparse(location)
    scheme = parsed.scheme or "file"
    # Found files are named the way the location was (`file:///a/b` or `/a/b`, `s3://b/k`).
    prefix = f"{parsed.scheme}://" if parsed.scheme else ""
    if hasattr(io, "fs_by_scheme"):  # PyArrowFileIO
        from pyarrow.fs import FileSelector, FileType

        _, netloc, path = io.parse_location(location)
        fs = io.fs_by_scheme(scheme, netloc)
        infos = fs.get_file_info(FileSelector(path, recursive=recursive, allow_not_found=True))
        found = []
        for i in infos:
            if i.type == FileType.Directory:
                found.append((f"{prefix}{i.path}", True, None))
            elif i.type == FileType.File and i.mtime is not None:
                stored = StoredFile(f"{prefix}{i.path}", i.size or 0, i.mtime.astimezone(UTC))
                found.append((stored.uri, False, stored))
        return found
    fs = io.get_fs(scheme)  # FsspecFileIO
    root = f"{parsed.netloc}{parsed.path}"
    if not fs.exists(root):
        return []
    listed = fs.find(root, detail=True, withdirs=True) if recursive else fs.ls(root, detail=True)
    items = listed.items() if isinstance(listed, dict) else ((i["name"], i) for i in listed)
    found = []
    for path, info in items:
        if info.get("type") == "directory":
            found.append((f"{prefix}{path}", True, None))
            continue
        modified = info.get("LastModified") or info.get("mtime") or info.get("created")
        if isinstance(modified, int | float):
            modified = datetime.fromtimestamp(modified, UTC)
        if modified is None:
            continue
        stored = StoredFile(f"{prefix}{path}", int(info.get("size") or 0), modified.astimezone(UTC))
        found.append((stored.uri, False, stored))
    return found


def list_files(io: FileIO, location: str) -> list[StoredFile]:
    """Every file under a location (recursively), through the given FileIO."""
    return [stored for _, is_dir, stored in _entries(io, location.rstrip("/"), True) if not is_dir and stored]


def _subfolders(io: FileIO, location: str) -> list[str]:
    return sorted(uri for uri, is_dir, _ in _entries(io, location, False) if is_dir)


def metadata_files(io: FileIO, location: str) -> list[MetadataFile]:
    """The `*.metadata.json` files in a table location's `metadata/` folder, oldest version first."""
    files = [
        MetadataFile(stored.uri, metadata_version(stored.uri), stored.size, stored.modified)
        for uri, is_dir, stored in _entries(io, f"{location.rstrip('/')}/metadata", False)
        if stored and not is_dir and uri.endswith(METADATA_SUFFIX)
    ]
    return sorted(files, key=lambda m: (m.version, m.uri))


def warehouse_io(properties: dict[str, str], warehouse: str) -> FileIO:
    """A FileIO for the warehouse with the catalog's own properties (S3 endpoint, credentials)."""
    return load_file_io(properties, warehouse)


def warehouse_tables(properties: dict[str, str], warehouse: str) -> list[WarehouseTable]:
    """Table folders of the default layout `<warehouse>/<namespace>/<table>/metadata/*.metadata.json`.

    Lists three folder levels, never the data files. Tables created at another location are not
    found here (name their metadata file to `foundation catalog recover --table T --metadata F`).

    Raises:
        WarehouseUnavailable: The warehouse could not be listed.
    """
    warehouse = warehouse.rstrip("/")
    io = warehouse_io(properties, warehouse)
    found = []
    try:
        for namespace in _subfolders(io, warehouse):
            for folder in _subfolders(io, namespace):
                files = metadata_files(io, folder)
                if not files:
                    continue
                ns, name = namespace.rsplit("/", 1)[-1], folder.rsplit("/", 1)[-1]
                found.append(WarehouseTable(f"{ns}.{name}", folder, tuple(files)))
    except OSError as exc:
        raise WarehouseUnavailable(f"the warehouse {warehouse} could not be listed: {exc}") from exc
    return found


def read_metadata(io: FileIO, uri: str) -> TableMetadata:
    """Parse one metadata file.

    Raises:
        FileNotFoundError: The file does not exist.
        OSError: It could not be read.
        ValueError: It is not valid table metadata (truncated, empty, not JSON).
    """
    try:
        return FromInputFile.table_metadata(io.new_input(uri))
    except ValidationError as exc:
        raise ValueError(f"{uri} is not valid table metadata: {exc}") from exc


def files_referenced(io: FileIO, metadatas: Iterable[TableMetadata]) -> set[str]:
    """Manifest lists, manifests and data files any snapshot of these metadata files names.

    Files that no longer exist (an earlier orphan removal deleted what only expired snapshots
    needed) are skipped: what they referenced cannot be listed, and was judged then.
    """
    found: set[str] = set()
    manifests_seen: set[str] = set()
    for metadata in metadatas:
        for path in (s.statistics_path for s in [*metadata.statistics, *metadata.partition_statistics]):
            found.add(path)
        for snapshot in metadata.snapshots:
            if snapshot.manifest_list in found:
                continue
            found.add(snapshot.manifest_list)
            try:
                manifests = snapshot.manifests(io)
            except READ_ERRORS:
                continue
            for manifest in manifests:
                found.add(manifest.manifest_path)
                if manifest.manifest_path in manifests_seen:
                    continue
                manifests_seen.add(manifest.manifest_path)
                try:
                    entries = manifest.fetch_manifest_entry(io, discard_deleted=False)
                except READ_ERRORS:
                    continue
                found.update(entry.data_file.file_path for entry in entries)
    return found
