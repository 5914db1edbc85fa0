"""Data Docs open from the UI's link and render offline: every file they load comes from the docs server."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from dagster_project.docs_site.server import serving
from tests.conftest import customers_csv, land, orders_csv
from tests.docs_site.test_server import fetch
from tests.quality.test_gates import CUSTOMERS, ORDERS, _checks, _run

# A stylesheet's own references: fonts and images (Font Awesome's webfonts).
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)")


class Resources(HTMLParser):
    """What a browser fetches to render the page: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("script", "img") and attributes.get("src"):
            self.urls.append(attributes["src"])
        if tag == "link" and attributes.get("href"):
            self.urls.append(attributes["href"])


def test_data_docs_link_opens_and_the_page_loads_everything_from_the_docs_server(settings):
    with serving(settings, port=0) as server:
        settings = dataclasses.replace(settings, docs_port=server.server_address[1])
        land(settings, "customers/c.csv", customers_csv(1, 7))
        land(settings, "orders/good.csv", orders_csv(1, 5))
        assert _run(settings, [CUSTOMERS, ORDERS]).success
        land(settings, "orders/bad.csv", orders_csv(10, 4).replace("\n10,", "\n,"))
        result = _run(settings, [ORDERS], files={ORDERS: ["orders/bad.csv"]})
        assert not result.success

        link = _checks(result)["order_id_not_null"].metadata["data_docs"].value
        assert link == f"{settings.docs_base_url}/data_docs/raw.orders/{result.run_id}.html"
        status, page = fetch(link)
        assert status == 200 and b"order_id" in page

        parser = Resources()
        parser.feed(page.decode("utf-8"))
        assert any(u.endswith("bootstrap.min.css") for u in parser.urls), parser.urls
        assert any(u.endswith("all.min.css") for u in parser.urls), parser.urls  # the pass/fail icons
        stylesheets = []
        for url in parser.urls:
            absolute = urljoin(link, url)
            assert urlsplit(absolute).netloc == urlsplit(link).netloc, f"{url} is not on the docs server"
            status, body = fetch(absolute)
            assert status == 200, absolute
            if absolute.endswith(".css"):
                stylesheets.append((absolute, body.decode("utf-8")))
        fonts = [urljoin(css, u) for css, text in stylesheets for u in CSS_URL.findall(text)]
        assert any(f.endswith("fa-solid-900.woff2") for f in fonts), fonts
        for font in fonts:
            if not font.startswith("data:"):
                assert urlsplit(font).netloc == urlsplit(link).netloc and fetch(font)[0] == 200, font
