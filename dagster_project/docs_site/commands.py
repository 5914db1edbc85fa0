"""`foundation docs serve`: the docs server on its own (the compose stack's `docs` service runs it)."""

from __future__ import annotations

import argparse

from dagster_project.docs_site.links import LOOPBACK
from dagster_project.settings import Settings
from dagster_project.subcommand import Subcommand


def docs_arguments(docs: argparse.ArgumentParser) -> None:
    """`foundation docs serve` on the `docs` verb's parser."""
    verbs = docs.add_subparsers(dest="docs_command", required=True)
    serve = verbs.add_parser("serve", help="serve them until interrupted (make dev starts it for you)")
    serve.add_argument("--host", default=LOOPBACK, help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, help="port (default: FOUNDATION_DOCS_PORT, 3001)")


def docs_command(settings: Settings, args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; 0 on a clean stop."""
    from dagster_project.docs_site.server import docs_server  # the HTTP server: only for this command

    server = docs_server(settings, args.host, args.port)
    host, port = server.server_address[:2]
    print(f"docs server on http://{host}:{port}/ (links in the UI: {settings.docs_base_url}/)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


DOCS = Subcommand(
    "docs",
    "serve the data cards and Data Docs over HTTP",
    "dagster_project.docs_site.commands:docs_command",
    docs_arguments,
)
