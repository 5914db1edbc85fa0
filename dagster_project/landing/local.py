"""The landing zone and quarantine on the local filesystem: a boundary that only regular files cross.

Directories are walked and files opened relative to already opened directories (`openat` with
`O_NOFOLLOW`), so a link swapped in while a listing or a read is under way is refused too, and
nothing is opened before its type is known: a FIFO or a device never blocks a run.
"""

from __future__ import annotations

import errno
import filecmp
import os
import shutil
import stat as st
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster_project.landing.names import label, unsafe_key, unsafe_prefix
from dagster_project.landing.store import (
    CHUNK,
    SYMLINK,
    Fetched,
    FileChanged,
    LandedFile,
    LandingEntryRefused,
    LandingNotReadable,
    Skipped,
    checksum_fd,
    kind,
    local_path,
    scratch_name,
    skip,
)

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_ROOT_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC
_DIR_FLAGS = _ROOT_FLAGS | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
# O_NONBLOCK: opening a FIFO or a device that slipped past the type check returns at once.
_FILE_FLAGS = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | _CLOEXEC


def _identity(status: os.stat_result) -> tuple[int, int, int, int]:
    return status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino


def _not_readable(key: str, exc: OSError) -> LandingNotReadable:
    return LandingNotReadable(
        f"{label(key)}: permission denied in the landing zone ({exc.strerror}); give the platform's "
        "user read access. Nothing was ingested from it; it is taken once it can be read."
    )


class LocalLanding:
    """A landing zone on the local filesystem (the embedded default: `.data/landing`)."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.root = local_path(self.uri)

    def _landed(self, key: str, status: os.stat_result) -> LandedFile:
        return LandedFile(
            mtime_ns=status.st_mtime_ns,
            key=key,
            uri=(self.root / key).as_uri(),
            size=status.st_size,
            ctime_ns=status.st_ctime_ns,
            inode=status.st_ino,
        )

    def _open_dir(self, parts: list[str], key: str) -> int:
        """A descriptor of the directory `parts` below the root, no link followed on the way.

        Raises:
            FileNotFoundError: A part is missing or not a directory.
            LandingEntryRefused: A part is a symbolic link.
        """
        try:
            fd = os.open(self.root, _ROOT_FLAGS)  # the root itself may be a link (another disk)
        except PermissionError as exc:
            raise _not_readable(key, exc) from exc
        try:
            for index, part in enumerate(parts):
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                        if isinstance(exc, PermissionError):
                            raise _not_readable(key, exc) from exc
                        raise
                    mode = os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
                    if st.S_ISLNK(mode):
                        where = "/".join(parts[: index + 1])
                        why = SYMLINK if where == key.rstrip("/") else f"{SYMLINK} at {label(where)}"
                        raise LandingEntryRefused(key, why) from exc
                    raise FileNotFoundError(errno.ENOENT, f"{label(key)}: not in the landing zone") from exc
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def list(self, prefix: str, skipped: list[Skipped] | None = None) -> Iterator[LandedFile]:
        """Every regular file under `prefix` (relative to the root), in no particular order.

        Folders whose name starts with `.` or `_` are not walked (writers' temporaries). Links,
        FIFOs, sockets and devices are skipped: never opened or followed, logged, and appended
        to `skipped` (when given) with what they are; a linked folder is not walked.

        Raises:
            LandingNotReadable: A folder under the prefix may not be read.
        """
        why = unsafe_prefix(prefix)
        if why:
            skip(skipped, prefix, why)
            return
        parts = [p for p in prefix.split("/") if p]
        try:
            top = self._open_dir(parts, prefix)
        except FileNotFoundError:
            return
        except LandingEntryRefused as refused:
            skip(skipped, prefix.rstrip("/"), refused.why)
            return
        yield from self._walk(top, "".join(f"{p}/" for p in parts), skipped)

    def _walk(self, top: int, base: str, skipped: list[Skipped] | None) -> Iterator[LandedFile]:
        """The regular files below the open folder `top` (whose key prefix is `base`), depth first.

        A folder's subfolders are opened one at a time, relative to it, once its entries are
        read: the descriptors held are one per level, however wide the tree.
        """
        stack: list[tuple[int, str, list[str]]] = []  # (folder, key prefix, subfolders left)
        fd: int | None = top
        prefix = base
        try:
            while True:
                if fd is not None:
                    folders: list[str] = []
                    with os.scandir(fd) as entries:
                        for entry in entries:
                            found = self._entry(prefix, entry, skipped)
                            if isinstance(found, LandedFile):
                                yield found
                            elif found is not None:
                                folders.append(found)
                    stack.append((fd, prefix, folders))
                    fd = None
                if not stack:
                    return
                parent, parent_prefix, folders = stack[-1]
                if not folders:
                    os.close(parent)
                    stack.pop()
                    continue
                name = folders.pop()
                fd = self._open_subfolder(parent, f"{parent_prefix}{name}", skipped)
                prefix = f"{parent_prefix}{name}/"
        finally:
            if fd is not None:
                os.close(fd)
            for folder, _, _ in stack:
                os.close(folder)

    def _entry(self, base: str, entry: os.DirEntry, skipped: list[Skipped] | None) -> LandedFile | str | None:
        """A file to hand out, the name of a folder to walk, or None (skipped or ignored)."""
        key = base + entry.name
        try:
            status = entry.stat(follow_symlinks=False)
        except FileNotFoundError:  # removed while listing
            return None
        if st.S_ISREG(status.st_mode):
            return self._landed(key, status)
        if entry.name.startswith((".", "_")):  # writers' temporaries, whatever they are
            return None
        if st.S_ISDIR(status.st_mode):
            return entry.name
        skip(skipped, key, kind(status.st_mode))
        return None

    def _open_subfolder(self, parent: int, key: str, skipped: list[Skipped] | None) -> int | None:
        name = key.rsplit("/", 1)[-1]
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:  # removed while listing
            return None
        except PermissionError as exc:
            raise _not_readable(key, exc) from exc
        except OSError as exc:  # replaced by a link or a file since it was listed
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
            skip(skipped, key, "replaced while listing")
            return None

    def _open_file(self, key: str) -> int:
        """A descriptor of the regular file `key`, opened without following any link or blocking."""
        why = unsafe_key(key)
        if why:
            raise LandingEntryRefused(key, why)
        *folders, name = key.split("/")
        parent = self._open_dir(folders, key)
        try:
            # Checked before opening: a device or FIFO is never even opened.
            mode = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
            if not st.S_ISREG(mode):
                raise LandingEntryRefused(key, kind(mode))
            try:
                fd = os.open(name, _FILE_FLAGS, dir_fd=parent)
            except PermissionError as exc:
                raise _not_readable(key, exc) from exc
            except OSError as exc:  # swapped for a link (ELOOP) or a socket (ENXIO) since the stat
                if exc.errno in (errno.ELOOP, errno.ENXIO):
                    raise LandingEntryRefused(key, f"{SYMLINK} or special file") from exc
                raise
        finally:
            os.close(parent)
        mode = os.fstat(fd).st_mode
        if not st.S_ISREG(mode):
            os.close(fd)
            raise LandingEntryRefused(key, kind(mode))
        return fd

    def stat(self, key: str) -> LandedFile:
        """The current version of one file.

        Raises:
            FileNotFoundError: No such file in the landing zone.
            LandingEntryRefused: The key leaves the root, has a link on its path, or is not a
                regular file (a link, FIFO, socket, device or folder).
        """
        why = unsafe_key(key)
        if why:
            raise LandingEntryRefused(key, why)
        *folders, name = key.split("/")
        parent = self._open_dir(folders, key)
        try:
            status = os.stat(name, dir_fd=parent, follow_symlinks=False)
        finally:
            os.close(parent)
        if not st.S_ISREG(status.st_mode):
            raise LandingEntryRefused(key, kind(status.st_mode))
        return self._landed(key, status)

    @contextmanager
    def fetch(self, file: LandedFile, scratch: Path) -> Iterator[Fetched]:
        """The file as a local path plus its checksum; the original is never changed.

        Contract: do all reading of the file inside the `with` block, through the yielded path.
        The file is opened once (no link followed, never blocking: a FIFO or device is refused
        before it is opened), checksummed from that descriptor, and on Linux the path is a link
        under `scratch` to `/proc/<pid>/fd/<fd>`: it reads that same open file, so a rename or a
        link swapped in after the checksum cannot redirect a reader (elsewhere it is the real
        path, and a swap is caught on exit). On exit the file's size, mtime, ctime and inode are
        compared with those when it was opened; if they differ it changed while being read and
        `FileChanged` is raised: use nothing read from it. The yielded `Fetched` unpacks as
        `(path, checksum)`; its `file` is the version read (fresh from the open descriptor).

        Raises:
            FileNotFoundError: The file is gone.
            LandingEntryRefused: It is not a regular file below the root (see `stat`).
            FileChanged: It was modified while the block read it.
        """
        fd = self._open_file(file.key)
        link: Path | None = None
        try:
            before = os.fstat(fd)
            checksum = checksum_fd(fd)
            path = self.root / file.key
            proc = Path(f"/proc/{os.getpid()}/fd/{fd}")
            if proc.exists():
                scratch.mkdir(parents=True, exist_ok=True)
                link = scratch / f".fetch-{uuid.uuid4().hex[:12]}-{scratch_name(file.name)}"
                os.symlink(proc, link)
                path = link
            yield Fetched(path, checksum, self._landed(file.key, before))
            swapped = False
            if link is None:  # readers used the real path: it must still name the file read
                try:
                    swapped = os.stat(path, follow_symlinks=False).st_ino != before.st_ino
                except FileNotFoundError:
                    swapped = True
            if swapped or _identity(os.fstat(fd)) != _identity(before):
                raise FileChanged(f"{file.label}: changed while it was read; it will be taken again")
        finally:
            if link is not None:
                link.unlink(missing_ok=True)
            os.close(fd)

    def put_if_changed(self, key: str, source: Path) -> bool:
        """Copy `source` to `key` unless the same bytes are there; returns whether it wrote.

        The copy is written under a hidden name and renamed, so a sensor never sees half a file;
        whatever is at `key` (a link included) is replaced, never written through.
        """
        why = unsafe_key(key)
        if why:
            raise LandingEntryRefused(key, why)
        target = self.root / key
        try:
            current = os.stat(target, follow_symlinks=False)
        except FileNotFoundError:
            current = None
        if (
            current is not None
            and st.S_ISREG(current.st_mode)
            and current.st_size == source.stat().st_size
            and filecmp.cmp(source, target, shallow=False)
        ):
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(target, source=source)
        return True


def _replace(target: Path, *, source: Path | None = None, data: bytes = b"") -> None:
    """Write `target` atomically: into a new hidden file beside it (never through a link), then rename."""
    partial = target.with_name(f".put-{uuid.uuid4().hex}")
    try:
        with open(partial, "xb") as out:  # "x": O_EXCL, so an existing link is never followed
            if source is None:
                out.write(data)
            else:
                with open(source, "rb") as handle:
                    shutil.copyfileobj(handle, out, CHUNK)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


class LocalQuarantine:
    """Where rejected files are copied, each with a JSON sidecar saying why."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.root = local_path(self.uri)

    def put(self, key: str, source: Path, sidecar: str) -> str:
        """Copy `source` to `<root>/<key>` and write `<key>.json`; returns the copy's URI.

        `key` comes from `quarantine_key` (every component fits in 255 bytes with `.json`).
        Both files are written under a new name and renamed into place.
        """
        why = unsafe_key(key)
        if why:
            raise ValueError(f"{label(key)}: not a quarantine key ({why}); build it with quarantine_key")
        target = self.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(target, source=source)
        _replace(Path(f"{target}.json"), data=sidecar.encode("utf-8"))
        return target.as_uri()
