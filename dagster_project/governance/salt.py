"""The PII salt: FOUNDATION_PII_SALT, else a secret of this installation made at first use.

Hash masks (`foundation query`, mask `hash`) and staging hashes (dbt, `email_hash`) use it. A
salt everybody knows would let anyone hash candidate values and join them to the hashes, so
there is no default: each installation gets its own random secret in
`<data_dir>/secrets/pii_salt` (mode 0600, outside the repository), and keeps it. Hashes made with
another salt do not join, so losing or replacing the file means rebuilding the hashed tables.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from dagster_project.errors import FoundationError
from dagster_project.settings import Settings


class SaltFileError(FoundationError, ValueError):
    """The installation's salt file exists but is unusable; the message names it and the fix."""


def salt_file(settings: Settings) -> Path:
    """Where this installation keeps its PII salt when FOUNDATION_PII_SALT is unset."""
    return Path(settings.data_dir) / "secrets" / "pii_salt"


def pii_salt(settings: Settings) -> str:
    """The PII salt: FOUNDATION_PII_SALT, else this installation's secret (created on first use).

    Raises:
        SaltFileError: The salt file is empty, not text, or not readable by this account.
    """
    if settings.pii_salt:
        return settings.pii_salt
    path = salt_file(settings)
    try:
        try:
            return _read(path)
        except FileNotFoundError:
            pass
        _create(path)
        return _read(path)
    except PermissionError:
        raise SaltFileError(
            f"{path}: no permission to read or create the PII salt; run as the owner of the data "
            "directory, or set FOUNDATION_PII_SALT to the installation's salt"
        ) from None


def _read(path: Path) -> str:
    try:
        salt = path.read_text(encoding="ascii").strip()
    except UnicodeDecodeError as exc:
        raise SaltFileError(f"{path}: the PII salt file is not text; {_FIX}") from exc
    if not salt:
        raise SaltFileError(f"{path}: the PII salt file is empty; {_FIX}")
    return salt


_FIX = (
    "restore it from a backup (hashes made with another salt do not join), or delete it to start "
    "a new salt and rebuild the hashed tables (dbt build --full-refresh)"
)


def _create(path: Path) -> None:
    """Write a new random salt to `path`, unless another process got there first.

    The secret is written to a private temporary file and then linked into place, so a reader
    never sees a half-written file and two first uses at once agree on one salt.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process created it first: theirs is the salt
            pass
    finally:
        temporary.unlink(missing_ok=True)
