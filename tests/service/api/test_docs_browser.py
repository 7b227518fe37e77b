"""The API documentation renders in Debian's Chromium with nothing reachable but the service:
every request the browser makes goes through browsing.py's guard (another host fails the test,
so does a console error) against a real `biotag serve` of the committed default bundle."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from biotag.service.config import REPO_MODELS_DIR
from tests.conftest import RunningServer, start_server, stop_server
from tests.service.api.browsing import Browsing

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("docs-server") / "server.log"
    running = start_server(REPO_MODELS_DIR, log)
    try:
        yield running
    finally:
        stop_server(running)


def test_swagger_ui_lists_the_tag_operation_offline(
    browsing: Browsing, docs_server: RunningServer
) -> None:
    page = browsing.page
    page.goto(f"{docs_server.url}/docs")
    operation = page.locator(".opblock-post .opblock-summary-path", has_text="/tag").first
    operation.wait_for(timeout=30_000)
    operation.click()
    page.locator(".opblock-post .try-out__btn").first.wait_for()
    assert page.locator(".info .title").first.inner_text().startswith("biotag")
    assert any(url.endswith("/docs/assets/swagger-ui-bundle.js") for url in browsing.requested)


def test_redoc_renders_the_api_offline(browsing: Browsing, docs_server: RunningServer) -> None:
    # ReDoc asks for its logo on cdn.redoc.ly whatever it is told: the page's policy refuses it
    # in the browser, before any request leaves (the guard would record one), and ReDoc hides
    # the image
    browsing.expected.append("cdn.redoc.ly")
    page = browsing.page
    page.goto(f"{docs_server.url}/redoc")
    page.get_by_text("/tag", exact=True).first.wait_for(timeout=30_000)
    assert page.locator("h1").first.inner_text().startswith("biotag")
    assert any(url.endswith("/docs/assets/redoc.standalone.js") for url in browsing.requested)
