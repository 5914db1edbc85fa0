"""Landed bytes as the plain UTF-8 text the readers expect: decompressed and transcoded, streaming.

A file that is compressed (declared, or named `.gz`, `.zst`, `.bz2`) or declared in another
encoding than UTF-8 is written once, chunk by chunk, to a temporary file in the run's scratch
folder: memory stays bounded whatever the file's size, and every reader after this (the header,
the line checks, DuckDB, the line numbers of rows set apart) sees plain UTF-8 with the same lines.
A file that is not what its declaration says is rejected with the declaration and the fix named;
the scratch disk filling up is the machine's failure, never the file's.
"""

from __future__ import annotations

import bz2
import codecs
import gzip
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import zstandard

from dagster_project.ingest.read_errors import FileRejected, environment_failure, without_values
from dagster_project.registry import Dataset

# Compression by file suffix (`compression: auto`).
SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2"}
_CHUNK = 1 << 20
# zstd's decompressor returns all a call's input makes: small inputs keep each call's output small.
_ZSTD_INPUT = 64 << 10
_SINGLE_BYTE = ("latin-1", "cp1252")  # encodings in which every byte string is some text
_BOMS = {codecs.BOM_UTF16_LE: "utf-16-le", codecs.BOM_UTF16_BE: "utf-16-be"}


def compression_of(dataset: Dataset, name: str) -> str:
    """The compression of a landed file: the registry's, or with `auto` the one its name ends in."""
    declared = dataset.dialect.compression
    if declared != "auto":
        return declared
    lowered = name.lower()
    return next((kind for suffix, kind in SUFFIXES.items() if lowered.endswith(suffix)), "none")


@contextmanager
def decoded(dataset: Dataset, path: Path, label: str, scratch: Path) -> Iterator[Path]:
    """The landed file as plain UTF-8 (itself when it already is), for the duration of the block.

    Args:
        dataset: The registry entry: its `encoding` and `compression`.
        path: The landed file, as fetched.
        label: Its landing key as safe text (its suffix decides `compression: auto`).
        scratch: The run's scratch folder; a decoded copy is written here and removed on exit.

    Raises:
        FileRejected: The file is not valid data of its declared compression or encoding.
        EnvironmentFailure: The scratch disk is full (or not writable) while decoding.
    """
    compression = compression_of(dataset, label)
    encoding = dataset.dialect.encoding if dataset.format != "parquet" else "utf-8"
    if encoding in _SINGLE_BYTE and _valid_utf8(path, compression, dataset, label):
        # A file that is valid UTF-8 is UTF-8: Latin-1 text with accented letters practically never
        # is, and decoding UTF-8 as Latin-1 would change every accented letter (`é` to `Ã©`). So a
        # source re-delivered in either encoding lands the same text.
        encoding = "utf-8"
    if compression == "none" and encoding == "utf-8":
        yield path
        return
    scratch.mkdir(parents=True, exist_ok=True)
    target = scratch / f"decoded-{uuid.uuid4().hex}.{dataset.format}"
    try:
        with open(path, "rb") as raw:
            _decode(raw, target, compression, encoding, dataset, label)
        yield target
    finally:
        target.unlink(missing_ok=True)


def _valid_utf8(path: Path, compression: str, dataset: Dataset, label: str) -> bool:
    """Whether the (decompressed) file is valid UTF-8 throughout, read once in chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as raw:
        read = _reader(raw, compression, dataset, label)
        try:
            while chunk := read():
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _decode(
    raw: BinaryIO, target: Path, compression: str, encoding: str, dataset: Dataset, label: str
) -> None:
    read = _reader(raw, compression, dataset, label)
    transcode = _Transcoder(encoding, label) if encoding != "utf-8" else None
    try:
        out = open(target, "wb")
    except OSError as exc:
        raise environment_failure(exc, label) or exc from exc
    with out:
        while chunk := read():
            data = transcode(chunk) if transcode else chunk
            try:
                out.write(data)
            except OSError as exc:
                failure = environment_failure(
                    exc, label, " (a decompressed copy is written to the work folder)"
                )
                raise failure or exc from exc
        if transcode:
            transcode.finish()


def _reader(raw: BinaryIO, compression: str, dataset: Dataset, label: str) -> Callable[[], bytes]:
    """A function returning the next chunk of decompressed bytes (b'' at the end)."""
    if compression == "none":
        return lambda: raw.read(_CHUNK)
    why = (
        f"the registry declares compression: {compression}"
        if dataset.dialect.compression != "auto"
        else f"its name ends in {next(s for s, k in SUFFIXES.items() if k == compression)}"
    )

    def rejected(exc: BaseException) -> FileRejected:
        failure = environment_failure(exc, label)
        if failure is not None:
            raise failure from exc
        return FileRejected(
            "unreadable",
            f"{label}: not complete {compression} data ({_in_words(exc)}), though {why}; land the file "
            "again if it was cut short, or set the dataset's compression in the source registry to what "
            "the file is (none, gzip, zstd, bz2)",
        )

    if compression == "zstd":
        frames = _ZstdFrames()

        def read_zstd() -> bytes:
            try:
                while data := raw.read(_ZSTD_INPUT):
                    if out := frames.decompress(data):
                        return out
                if not frames.complete:
                    raise EOFError("the data ends inside a frame")
            except (zstandard.ZstdError, EOFError, OSError) as exc:
                raise rejected(exc) from exc
            return b""

        return read_zstd
    stream = gzip.GzipFile(fileobj=raw, mode="rb") if compression == "gzip" else bz2.BZ2File(raw, mode="rb")

    def read_stream() -> bytes:
        try:
            return stream.read(_CHUNK)
        except (EOFError, OSError, zlib.error) as exc:
            raise rejected(exc) from exc

    return read_stream


class _ZstdFrames:
    """Decompresses zstd frames one after another, knowing whether the last one was complete."""

    def __init__(self) -> None:
        self._frame: zstandard.ZstdDecompressionObj | None = None

    @property
    def complete(self) -> bool:
        return self._frame is None

    def decompress(self, data: bytes) -> bytes:
        out = []
        while data:
            if self._frame is None:
                self._frame = zstandard.ZstdDecompressor().decompressobj()
            out.append(self._frame.decompress(data))
            if self._frame.eof:
                data, self._frame = self._frame.unused_data, None
            else:
                data = b""
        return b"".join(out)


class _Transcoder:
    """Bytes of a declared encoding to UTF-8, incrementally; a byte the encoding has no character for
    rejects the file, with its line."""

    def __init__(self, encoding: str, label: str) -> None:
        self.encoding = encoding
        self.label = label
        self.codec: str | None = None if encoding == "utf-16" else encoding
        self.decoder = codecs.getincrementaldecoder(self.codec)() if self.codec else None
        self.lines = 0  # line breaks written so far, to name the line of a bad byte
        self.offset = 0  # bytes read so far

    def __call__(self, chunk: bytes) -> bytes:
        if self.decoder is None:
            # UTF-16 needs its byte order mark: without it the order would be a guess.
            self.codec = next((codec for bom, codec in _BOMS.items() if chunk.startswith(bom)), None)
            if self.codec is None:
                raise FileRejected(
                    "encoding",
                    f"{self.label}: the registry declares encoding: utf-16, but the file does not start "
                    "with a UTF-16 byte order mark (BOM); re-export it as UTF-16 with a BOM, or as UTF-8 "
                    "and set encoding: utf-8",
                    line=1,
                )
            self.decoder = codecs.getincrementaldecoder(self.codec)()
            self.offset, chunk = 2, chunk[2:]
        try:
            text = self.decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            start = max(exc.start, 0)
            before = chunk[:start].decode(self.codec or self.encoding, errors="replace")
            raise self._rejected(before.count("\n"), self.offset + start) from exc
        self.offset += len(chunk)
        self.lines += text.count("\n")
        return text.encode("utf-8")

    def finish(self) -> None:
        try:
            assert self.decoder is not None
            self.decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:  # e.g. UTF-16 with an odd number of bytes: cut short
            raise self._rejected(0, self.offset) from exc

    def _rejected(self, breaks: int, offset: int) -> FileRejected:
        line = self.lines + breaks + 1
        return FileRejected(
            "encoding",
            f"{self.label}: line {line}: bytes that are not {self.encoding} text (at byte {offset:,}), "
            f"though the registry declares encoding: {self.encoding}; set the dataset's encoding to the "
            "one the file is written in (utf-8, utf-16, latin-1, cp1252), or re-export it",
            line=line,
        )


def _in_words(exc: BaseException) -> str:
    if isinstance(exc, EOFError):
        return "it ends before its end-of-stream marker: truncated"
    text = without_values(str(exc).split(":")[0].strip()) or type(exc).__name__
    return "".join(c if c.isprintable() else "?" for c in text)[:120]
