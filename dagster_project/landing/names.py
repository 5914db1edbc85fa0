"""Landing keys as text: which keys may name a file, how a key is shown, and quarantine keys that fit.

A landing key is the path of a file relative to the landing root, `/`-separated. On Linux a file
name is any bytes but `/` and NUL, so a key may hold newlines, quotes, glob characters and bytes
that are not UTF-8 (kept as surrogate escapes, as `os.fsdecode` makes them). The key itself is
the file's identity and is used as is for filesystem calls; `label` is what goes into messages,
logs, JSON and Iceberg string columns.
"""

from __future__ import annotations

import unicodedata

from blake3 import blake3

# The longest file name (one path component) most filesystems and S3 tools accept, in bytes.
NAME_MAX = 255
SIDECAR_SUFFIX = ".json"
ESCAPES_PATH = "path escapes the landing prefix"
# Bidirectional controls reorder how a name is displayed (a `.exe` shown as `.txt`): escaped too.
_BIDI = frozenset(chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)))
_LINE_BREAKS = ("Cc", "Zl", "Zp")
_SUFFIX_MAX = 32  # bytes of a long name's end kept whole (`.csv.gz`, `.metadata.json`)


def label(key: str) -> str:
    """The key as safe text: printable, valid UTF-8, one line.

    An undecodable byte becomes `\\xNN`, a control character, line or paragraph separator or
    bidirectional control `\\xNN`/`\\uNNNN`; everything else (spaces, quotes, `#`, `%`, `*`,
    unicode) is kept. Different keys may share a label (a name holding a literal `\\x0a`), so a
    label is for people; the key (or its URI) is the identity.
    """
    if key.isprintable() and key.isascii():
        return key
    out = []
    for char in key:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's surrogate escape of an undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        elif unicodedata.category(char) in _LINE_BREAKS or char in _BIDI:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def unsafe_key(key: str) -> str | None:
    """Why `key` cannot name a file below the landing root (None when it can).

    Refused: an empty key, an absolute path, `.` or `..` segments, empty segments (`a//b`), and
    NUL bytes. Nothing else: every other legal file name is a legal key.
    """
    if not key:
        return "empty key"
    if "\x00" in key:
        return "NUL byte in the name"
    segments = key.split("/")
    if key.startswith("/") or any(s in (".", "..") for s in segments):
        return ESCAPES_PATH
    if "" in segments:
        return "empty path segment"
    return None


def unsafe_prefix(prefix: str) -> str | None:
    """Why a dataset prefix (`orders/`, or `` for the whole root) cannot be listed (None when it can)."""
    stripped = prefix[:-1] if prefix.endswith("/") else prefix
    return unsafe_key(stripped) if stripped else None


def _fit(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes in the middle, keeping its start and its suffix.

    The cut is marked with `~<8 hex of the whole text's hash>~`, so two long names that differ
    only in the middle stay different.
    """
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = f"~{blake3(data).hexdigest()[:8]}~"
    tail = data[-_SUFFIX_MAX:].decode("utf-8", errors="ignore")  # a cut character is dropped
    head_bytes = limit - len(marker) - len(tail.encode("utf-8"))
    head = data[:head_bytes].decode("utf-8", errors="ignore")
    return f"{head}{marker}{tail}"


def safe_component(text: str, limit: int = NAME_MAX) -> str:
    """One path component made from any text: labelled, no `/`, not `.`/`..`, at most `limit` bytes."""
    safe = label(text).replace("/", "\\x2f")
    if safe in ("", ".", ".."):
        safe = safe.replace(".", "_") or "_"
    return _fit(safe, limit)


def quarantine_key(dataset: str, checksum: str, key: str) -> str:
    """Where a quarantined file version goes: `<dataset>/<checksum[:12]>-<name>`, safe on any store.

    The name is the key's last segment as its `label` (no control characters, valid UTF-8, so the
    same key works on S3); every component is at most 255 bytes including the `.json` of the
    sidecar written beside it, cut in the middle when longer (start and suffix kept).

    Args:
        dataset: The dataset's name.
        checksum: The BLAKE3 hex digest of the file's bytes.
        key: The landing key of the file.
    """
    name = key.rsplit("/", 1)[-1]
    limit = NAME_MAX - len(SIDECAR_SUFFIX)
    return f"{safe_component(dataset, limit)}/{safe_component(f'{checksum[:12]}-{name}', limit)}"
