"""The docs server serves cards, Data Docs and their static files, and nothing else of the data folder."""

from __future__ import annotations

import dataclasses
import socket
import urllib.error
import urllib.request

import pytest

from dagster_project.docs_site.links import docs_link
from dagster_project.docs_site.server import docs_server, serving
from dagster_project.errors import FoundationError
from dagster_project.settings import Settings, load_settings


def fetch(url: str) -> tuple[int, bytes]:
    """Status and body of a GET; an HTTP error's status instead of raising."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@pytest.fixture
def written(tmp_path) -> Settings:
    settings = Settings.for_data_dir(tmp_path / "data")
    settings.cards_dir.mkdir(parents=True)
    (settings.cards_dir / "curated.orders.html").write_text("<h1>curated.orders</h1>")
    (settings.data_docs_dir / "raw.orders").mkdir(parents=True)
    (settings.data_docs_dir / "raw.orders" / "latest.html").write_text("<p>raw.orders suite</p>")
    (settings.data_dir / "secrets").mkdir()
    (settings.data_dir / "secrets" / "pii_salt").write_text("not to be served")
    return settings


def test_links_are_urls_on_the_docs_server_built_from_the_settings(written):
    card = written.cards_dir / "curated.orders.html"
    assert docs_link(written, card) == "http://127.0.0.1:3001/cards/curated.orders.html"
    moved = dataclasses.replace(written, docs_port=3999)
    assert docs_link(moved, card) == "http://127.0.0.1:3999/cards/curated.orders.html"
    behind_proxy = dataclasses.replace(written, docs_url="https://docs.example.org/foundation")
    page = written.data_docs_dir / "raw.orders" / "run 1.html"
    assert (
        docs_link(behind_proxy, page)
        == "https://docs.example.org/foundation/data_docs/raw.orders/run%201.html"
    )
    with pytest.raises(ValueError, match="is not under"):
        docs_link(written, written.data_dir / "secrets" / "pii_salt")


def test_docs_url_and_port_are_settings_read_from_the_environment(tmp_path):
    env = {"FOUNDATION_DATA_DIR": str(tmp_path), "FOUNDATION_DOCS_PORT": "3101"}
    assert load_settings(env).docs_base_url == "http://127.0.0.1:3101"
    given = load_settings({**env, "FOUNDATION_DOCS_URL": "http://docs.internal:8080/"})
    assert given.docs_base_url == "http://docs.internal:8080"


@pytest.mark.slow  # opens every link over HTTP
def test_every_link_opens_and_nothing_else_of_the_data_folder_is_served(written):
    with serving(written, port=0) as server:
        served = dataclasses.replace(written, docs_port=server.server_address[1])
        base = served.docs_base_url
        assert server.server_address[0] == "127.0.0.1"
        assert fetch(docs_link(served, written.cards_dir / "curated.orders.html")) == (
            200,
            b"<h1>curated.orders</h1>",
        )
        status, page = fetch(docs_link(served, written.data_docs_dir / "raw.orders" / "latest.html"))
        assert (status, page) == (200, b"<p>raw.orders suite</p>")
        status, index = fetch(f"{base}/")
        assert status == 200
        assert b'href="/cards/curated.orders.html"' in index
        assert b'href="/data_docs/raw.orders/latest.html"' in index
        for path in ("/secrets/pii_salt", "/cards/../secrets/pii_salt", "/cards/%2e%2e/secrets/pii_salt"):
            assert fetch(base + path)[0] == 404, path
        assert fetch(f"{base}/static/bootstrap/css/bootstrap.min.css")[0] == 200


def test_a_taken_port_is_reported_with_the_setting_that_moves_it(written):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(
            FoundationError, match=f"port {port} on 127.0.0.1 is in use; set FOUNDATION_DOCS_PORT"
        ):
            docs_server(written, port=port)
