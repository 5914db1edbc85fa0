"""The one place links to cards and Data Docs are built: URLs on the docs server, from the settings."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from dagster_project.settings import Settings

# The docs server's default address (here, not in server.py: the CLI's --help shows it without
# importing the HTTP server).
LOOPBACK = "127.0.0.1"

# URL prefix → the folder it serves, by the settings property naming the folder.
SERVED_DIRS = {"cards": "cards_dir", "data_docs": "data_docs_dir"}


def served_dirs(settings: Settings) -> dict[str, Path]:
    """URL prefix (`cards`, `data_docs`) → the folder the docs server serves under it."""
    return {prefix: getattr(settings, name) for prefix, name in SERVED_DIRS.items()}


def docs_link(settings: Settings, path: Path) -> str:
    """The docs server's URL of a card or Data Docs file.

    Args:
        settings: The folders served and the server's base URL (`FOUNDATION_DOCS_URL` / `_PORT`).
        path: A file under `settings.cards_dir` or `settings.data_docs_dir`.

    Returns:
        e.g. `http://127.0.0.1:3001/cards/curated.orders.html`.

    Raises:
        ValueError: The file is in neither folder (the server would not serve it).
    """
    resolved = Path(path).resolve()
    for prefix, folder in served_dirs(settings).items():
        if resolved.is_relative_to(folder.resolve()):
            relative = resolved.relative_to(folder.resolve()).as_posix()
            return f"{settings.docs_base_url}/{prefix}/{quote(relative)}"
    raise ValueError(f"{path} is not under {settings.cards_dir} or {settings.data_docs_dir}")
