"""The web page against a service with an API key (BIOTAG_API_KEY): Debian's Chromium, headless,
through Playwright (browsing.py: nothing may leave 127.0.0.1, no console error but the 401s the
test provokes), on a real `biotag serve` of the committed default bundle."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Request

from biotag.service.config import REPO_MODELS_DIR
from tests.conftest import RunningServer, ready_server
from tests.service.api.browsing import Browsing, real_abstract, tag_in_page

pytestmark = pytest.mark.slow

KEY = "page-key-7f3a9c"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("keyed-page-server") / "server.log"
    with ready_server(REPO_MODELS_DIR, log, BIOTAG_API_KEY=KEY) as running:
        yield running


def test_the_page_asks_for_the_key_and_sends_it(
    browsing: Browsing, keyed_server: RunningServer
) -> None:
    page = browsing.page
    browsing.expected.append("401")  # Chromium logs each refused fetch as a console error
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    page.goto(keyed_server.url)
    key_field = page.locator("#api-key")
    key_field.wait_for()  # shown because GET /models answered 401
    assert "needs an API key" in page.locator("#models-empty").inner_text()

    key_field.fill(KEY)
    key_field.press("Tab")  # the change event: kept for the tab, the models asked again
    page.locator('input[name="model"]').first.wait_for()
    assert page.locator("#version").inner_text().startswith("version ")

    pmid, text = real_abstract()
    body = tag_in_page(page, keyed_server.url, pmid, text)  # a reload: the key is kept
    assert body["documents"][0]["text"] == text
    assert key_field.input_value() == KEY
    assert page.locator("#table tbody tr").count() > 0
    tagged = [r for r in sent if "/tag?" in r.url]
    assert tagged
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in tagged)
    models = [r for r in sent if r.url.endswith("/models")]
    assert models[-1].headers.get("authorization") == f"Bearer {KEY}"
    assert all(KEY not in r.url for r in sent)  # never in a URL (logs, history, Referer)
    storage = page.evaluate("() => [localStorage.length, sessionStorage.length]")
    assert storage == [0, 1]  # this tab only: gone when it closes

    key_field.fill("a-wrong-key")
    key_field.press("Tab")
    page.get_by_role("button", name="Tag entities").click()
    page.locator("#status").filter(has_text="needs an API key (401)").wait_for()


def test_the_page_shell_needs_no_key(keyed_server: RunningServer) -> None:
    with keyed_server.client() as http:
        for path in ("/", "/static/page.js", "/static/key.js", "/static/page.css"):
            assert http.get(path).status_code == 200, path
        assert http.get("/page/config").status_code == 401
