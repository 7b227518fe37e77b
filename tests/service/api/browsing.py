"""Headless Chromium for the page's tests: Debian's binary launched through Playwright, every
request of a page routed through a guard that refuses (and records) any host but 127.0.0.1,
the real abstract the tests paste, and the few page actions they share."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Route,
    ViewportSize,
    sync_playwright,
)

ABSTRACTS = Path(__file__).resolve().parents[4] / "shared/data/bioner/ncbi-disease/abstracts"
CHROMIUM = Path(os.environ.get("BIOTAG_TEST_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--no-sandbox",  # CI containers run as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # belt and braces besides the route below: no name resolves, so nothing can leave
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# each entity's text as the page shows it: the text nodes of its marks (the fragments of a
# cut entity in document order, nested marks included), leaving out the type badges
TEXTS_IN_PAGE = """() => {
    const texts = {};
    for (const mark of document.querySelectorAll("#doc mark.ent")) {
        const walker = document.createTreeWalker(mark, NodeFilter.SHOW_TEXT);
        let own = "";
        while (walker.nextNode()) {
            if (!walker.currentNode.parentElement.closest(".badge")) own += walker.currentNode.data;
        }
        texts[mark.dataset.i] = (texts[mark.dataset.i] || "") + own;
    }
    return texts;
}"""


def launch_chromium() -> Iterator[Browser]:
    """The system Chromium; a missing one fails the test (CI must have it), never skips it."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: run `bash scripts/system-tools` (installs Debian's "
            "chromium) or point BIOTAG_TEST_CHROMIUM at a Chromium binary",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Browsing:
    page: Page
    requested: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Chromium logs every refused fetch as a console error; tests that provoke one say which
    expected: list[str] = field(default_factory=list)

    def assert_stayed_local(self) -> None:
        assert self.requested, "the route saw no request at all"
        assert self.refused == [], "requests left 127.0.0.1"
        assert all(urlsplit(url).hostname == "127.0.0.1" for url in self.requested)
        unexpected = [p for p in self.problems if not any(e in p for e in self.expected)]
        assert unexpected == [], "errors in the page (a CSP violation shows here)"


def browse(browser: Browser, viewport: ViewportSize) -> Iterator[Browsing]:
    """A fresh context (no cookies or cache from other tests) whose every request is checked;
    at the end, the checks: nothing left 127.0.0.1, nothing failed in the page."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    page = context.new_page()
    browsing = Browsing(page)

    def route(route: Route) -> None:
        url = route.request.url
        browsing.requested.append(url)
        if urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            browsing.refused.append(url)
            route.abort("blockedbyclient")

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            browsing.problems.append(message.text)

    context.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda error: browsing.problems.append(str(error)))
    try:
        yield browsing
        browsing.assert_stayed_local()
    finally:
        context.close()


def real_abstract() -> tuple[str, str]:
    """The first NCBI-disease devel abstract, read in place, as title + newline + abstract,
    behind an emoji and a Greek letter."""
    lines = (ABSTRACTS / "devel.pubtator").read_text(encoding="utf-8").splitlines()
    pmid, _, title = next(line for line in lines if "|t|" in line).split("|", 2)
    abstract = next(line for line in lines if line.startswith(f"{pmid}|a|")).split("|", 2)[2]
    return pmid, f"😀 α {title}\n{abstract}"


def tag_in_page(
    page: Page, url: str, pmid: str, text: str, submit: str = "", expect: str = " entities in "
) -> dict[str, Any]:
    """Opens the page, pastes, submits (the button, or a key such as Control+Enter) and waits
    for the answer; returns the request body the page sent."""
    page.goto(url)
    page.locator('input[name="model"]').first.wait_for()
    page.locator("#text").fill(text)
    page.locator("#doc-id").fill(pmid)
    with page.expect_request("**/tag?format=json") as sent:
        if submit:
            page.locator("#text").press(submit)
        else:
            page.get_by_role("button", name="Tag entities").click()
    page.locator("#status").filter(has_text=expect).wait_for()
    body: dict[str, Any] = sent.value.post_data_json
    return body


def entity_texts_in_page(page: Page) -> dict[int, str]:
    return {int(i): text for i, text in page.evaluate(TEXTS_IN_PAGE).items()}
