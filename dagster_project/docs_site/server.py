"""The docs server: cards, Data Docs and their static files over HTTP (the standard library's server).

Only the folders named in `links.SERVED_DIRS` and the static packages are served, each under its own
prefix: never the data directory itself, which also holds the catalog and the PII salt.
"""

from __future__ import annotations

import errno
import html
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from dagster_project.docs_site.links import LOOPBACK, served_dirs
from dagster_project.docs_site.static import STATIC_PREFIX, static_dirs
from dagster_project.errors import FoundationError
from dagster_project.quality.docs import LATEST, SOURCE_SUFFIX, render_data_docs
from dagster_project.settings import Settings


class DocsHandler(SimpleHTTPRequestHandler):
    """Serves `/<prefix>/<file>` from the folder of that prefix; `/` lists what there is to read."""

    def __init__(self, *args: Any, roots: dict[str, Path], **kwargs: Any) -> None:
        self.roots = roots
        super().__init__(*args, **kwargs)

    def _root_and_rest(self) -> tuple[Path | None, str]:
        # A root's name is one segment (`cards`) or, for static packages, two (`static/bootstrap`).
        segments = urlsplit(self.path).path.lstrip("/").split("/")
        for size in (1, 2):
            root = self.roots.get(unquote("/".join(segments[:size])))
            if root is not None:
                return root, "/" + "/".join(segments[size:])
        return None, ""

    def translate_path(self, path: str) -> str:
        root, rest = self._root_and_rest()
        assert root is not None  # send_head answers 404 first
        # The base class drops "." and ".." segments, so a path cannot climb out of its root.
        self.directory = str(root)
        return super().translate_path(rest)

    def send_head(self) -> Any:
        root, rest = self._root_and_rest()
        if root is None:
            self.send_error(404, "Not a card, Data Docs page or static file")
            return None
        if root == self.roots["data_docs"]:
            if rest.endswith(SOURCE_SUFFIX):  # a page's saved source: the page is what is served
                self.send_error(404, "Not a card, Data Docs page or static file")
                return None
            if rest.endswith(".html"):
                try:
                    # Runs save a page's source only; it is rendered on its first request.
                    render_data_docs(Path(self.translate_path(self.path)))
                except Exception as exc:  # noqa: BLE001 - the browser gets the reason, the server goes on
                    self.send_error(500, f"Data Docs page could not be rendered: {type(exc).__name__}: {exc}")
                    return None
        return super().send_head()

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if urlsplit(self.path).path in ("/", "/index.html"):
            self._send_index(body=True)
        else:
            super().do_GET()

    def do_HEAD(self) -> None:  # noqa: N802 - the base class's name
        if urlsplit(self.path).path in ("/", "/index.html"):
            self._send_index(body=False)
        else:
            super().do_HEAD()

    def end_headers(self) -> None:
        # Cards and Data Docs are rewritten in place on every publish: the browser must ask again.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass  # one line per request would drown dagster dev's log in the same terminal

    def _send_index(self, body: bool) -> None:
        data = index_page(self.roots).encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


def index_page(roots: dict[str, Path]) -> str:
    """The front page: a link to each card and to each table's latest Data Docs."""
    cards = sorted(roots["cards"].glob("*.html")) if roots["cards"].is_dir() else []
    # A table's latest page may not be rendered yet: its saved source says it exists.
    folder = roots["data_docs"]
    latest = (f"{LATEST}.html", f"{LATEST}{SOURCE_SUFFIX}")
    tables = (
        sorted({p.parent.name for name in latest for p in folder.glob(f"*/{name}")})
        if folder.is_dir()
        else []
    )
    items = [f"/cards/{quote(p.name)}" for p in cards]
    items += [f"/data_docs/{quote(table)}/{LATEST}.html" for table in tables]
    links = "".join(f'<li><a href="{html.escape(u)}">{html.escape(unquote(u))}</a></li>' for u in items)
    empty = "" if items else "<p>Nothing yet: cards and Data Docs appear after the first publish.</p>"
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Data cards and Data Docs</title></head>'
        f"<body><h1>Data cards and Data Docs</h1>{empty}<ul>{links}</ul></body></html>"
    )


def docs_server(settings: Settings, host: str = LOOPBACK, port: int | None = None) -> ThreadingHTTPServer:
    """A docs server bound to `host:port` (not yet serving: call `serve_forever`).

    Args:
        settings: The card and Data Docs folders; `docs_port` when `port` is None.
        host: The address to listen on; loopback unless a container publishes the port.
        port: 0 for any free port (tests).

    Raises:
        FoundationError: The port is taken; the message names the setting that moves it.
    """
    roots = served_dirs(settings)
    for name, folder in static_dirs().items():
        roots[f"{STATIC_PREFIX}/{name}"] = folder
    port = settings.docs_port if port is None else port
    try:
        return ThreadingHTTPServer((host, port), partial(DocsHandler, roots=roots))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise FoundationError(
                f"docs server: port {port} on {host} is in use; set FOUNDATION_DOCS_PORT to a free one"
            ) from None
        raise


@contextmanager
def serving(
    settings: Settings, host: str = LOOPBACK, port: int | None = None
) -> Iterator[ThreadingHTTPServer]:
    """Run a docs server in a background thread for the duration of the block."""
    server = docs_server(settings, host, port)
    thread = threading.Thread(target=server.serve_forever, name="docs-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
