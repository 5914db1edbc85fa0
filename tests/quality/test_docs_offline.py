"""Data Docs open from the UI's link and render offline: every file they load comes from the docs server."""

from __future__ import annotations

import dataclasses
import re
import shutil
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest

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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")
def test_data_docs_render_styled_in_a_browser_with_every_request_to_the_docs_server(settings, tmp_path):
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from playwright.sync_api import sync_playwright

    from dagster_project.quality.docs import page_view

    failed = ExpectationValidationResult(
        success=False,
        expectation_config=ExpectationConfiguration(
            type="expect_column_values_to_not_be_null", kwargs={"column": "order_id"}
        ),
        result={"element_count": 4, "unexpected_count": 1, "unexpected_percent": 25.0},
    )
    validation = ExpectationSuiteValidationResult(
        success=False,
        results=[failed],
        suite_name="raw.orders",
        statistics={"evaluated_expectations": 1, "successful_expectations": 0},
        meta={"run_id": {"run_name": "r", "run_time": "2026-01-01T00:00:00"}},
    )
    page_file = settings.data_docs_dir / "raw.orders" / "latest.html"
    page_file.parent.mkdir(parents=True)
    page_file.write_text(page_view().render(ValidationResultsPageRenderer().render(validation)))
    elsewhere = []
    with serving(settings, port=0) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            page = browser.new_page()
            # As with no internet: any request off the docs server is refused and recorded.
            page.route(
                "**/*",
                lambda route: (
                    route.continue_()
                    if urlsplit(route.request.url).hostname == "127.0.0.1"
                    else (elsewhere.append(route.request.url), route.abort())
                ),
            )
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/data_docs/raw.orders/latest.html")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=tmp_path / "data_docs.png")
            assert elsewhere == []
            # Bootstrap's layout and the Font Awesome icon font (the pass/fail marks) are in effect.
            assert (
                page.evaluate("getComputedStyle(document.querySelector('.container-fluid')).paddingLeft")
                != "0px"
            )
            assert page.evaluate("""document.fonts.check('900 16px "Font Awesome 6 Free"')""")
            assert page.locator(".fa-times").count() >= 1
        finally:
            browser.close()
