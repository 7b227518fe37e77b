"""The web page end to end: Debian's Chromium, headless, driven by Playwright, against a real
`biotag serve` of the committed default bundle, on a real NCBI abstract with an emoji and a
Greek letter before its entities (astral characters are where code-point offsets and
JavaScript's UTF-16 indices part).

Playwright's own browser builds need a download (`playwright install`), so the tests launch the
system Chromium that scripts/system-tools installs; without it they fail, never skip. Every
request the browser makes goes through a guard (browsing.py): one to any host but 127.0.0.1 is
refused and fails the test, a console error (a CSP violation) too, and DNS resolves nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from biotag.service.config import REPO_MODELS_DIR
from tests.conftest import RunningServer, start_server, stop_server
from tests.service.api.browsing import (
    ABSTRACTS,
    Browsing,
    entity_texts_in_page,
    real_abstract,
    tag_in_page,
)

pytestmark = pytest.mark.slow

PAGE_LIMIT = 5000


def _ready(server: RunningServer) -> RunningServer:
    deadline = time.monotonic() + 120
    with server.client() as client:
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, server.log.read_text()
            time.sleep(0.2)
    return server


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The default bundle, with a small per-document limit the page must learn from the service
    (its own default would be 200,000)."""
    log = tmp_path_factory.mktemp("page-server") / "server.log"
    running = start_server(REPO_MODELS_DIR, log, BIOTAG_MAX_DOCUMENT_CHARS=str(PAGE_LIMIT))
    try:
        yield _ready(running)
    finally:
        stop_server(running)


def _api(server: RunningServer, body: dict[str, Any], output: str = "json") -> httpx.Response:
    with server.client() as client:
        response = client.post("/tag", params={"format": output}, json=body)
    assert response.status_code == 200, response.text
    return response


def test_a_real_abstract_is_highlighted_exactly(
    browsing: Browsing, page_server: RunningServer, tmp_path: Path
) -> None:
    page = browsing.page
    pmid, text = real_abstract()
    body = tag_in_page(page, page_server.url, pmid, text, submit="Control+Enter")
    assert page.locator("#count").inner_text() == f"{len(text):,} / {PAGE_LIMIT:,} characters"
    entities = _api(page_server, body).json()["documents"][0]["entities"]
    assert len(entities) >= 10, "the default bundle finds diseases and genes in this abstract"
    prefix = len("😀 α ")
    assert all(e["start"] >= prefix for e in entities)

    assert entity_texts_in_page(page) == {i: e["text"] for i, e in enumerate(entities)}
    for e in entities:
        assert e["text"] == text[e["start"] : e["end"]]
    badges = page.locator("#doc .badge").all_inner_texts()
    assert sorted(badge.lower() for badge in badges) == sorted(e["type"].lower() for e in entities)
    status = page.locator("#status")
    assert status.get_attribute("aria-live") == "polite"
    assert f"{len(entities)} entities in " in status.inner_text()
    assert "models: chemical, disease, gene, species" in status.inner_text()
    assert page.locator("#table tbody tr").count() == len(entities)

    first = page.locator("#doc mark.ent").first
    first.focus()
    tip = page.locator("#tip")
    assert tip.is_visible()
    shown = entities[int(first.get_attribute("data-i") or "-1")]
    for detail in (
        f"type {shown['type']}",
        f"score {shown['score']:.4f}",
        f"model {shown['model']}",
        f"offsets {shown['start']}–{shown['end']}",
    ):
        assert detail in tip.inner_text()
    page.keyboard.press("Escape")
    assert tip.is_hidden()

    page.locator("#table th[data-key=score] button").click()
    scores = [float(s) for s in page.locator("#table tbody td:nth-child(4)").all_inner_texts()]
    assert scores == sorted(scores)
    screenshot = tmp_path / "web-page.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 20_000


def test_legend_filters_a_type_off_and_on(browsing: Browsing, page_server: RunningServer) -> None:
    page = browsing.page
    pmid, text = real_abstract()
    tag_in_page(page, page_server.url, pmid, text)
    before = entity_texts_in_page(page)
    diseases = page.locator("#doc mark.ent[data-type=Disease]")
    assert diseases.count() > 0
    toggle = page.locator("#legend").get_by_role("checkbox", name="Disease")
    toggle.uncheck()
    assert diseases.count() == 0
    assert page.locator("#table tbody").get_by_text("Disease", exact=True).count() == 0
    remaining = entity_texts_in_page(page)
    assert remaining, "the other types stay"
    assert remaining.items() <= before.items()
    toggle.check()
    assert entity_texts_in_page(page) == before


def test_downloads_are_the_bytes_of_the_api(browsing: Browsing, page_server: RunningServer) -> None:
    page = browsing.page
    pmid, text = real_abstract()
    body = tag_in_page(page, page_server.url, pmid, text)
    for output, label in (
        ("pubtator", "PubTator"),
        ("json", "JSON"),
        ("biocxml", "BioC XML"),
        ("biocjson", "BioC JSON"),
    ):
        with page.expect_download() as download:
            page.get_by_role("button", name=label, exact=True).click()
        saved = Path(download.value.path()).read_bytes()
        assert saved == _api(page_server, body, output).content, output
    assert saved.startswith(b"{")  # biocjson, last
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy as JSON").click()
    page.locator("#status").filter(has_text="Copied the JSON answer").wait_for()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == _api(page_server, body).text


def test_the_policy_and_the_guard_stop_requests_elsewhere(
    browsing: Browsing, page_server: RunningServer
) -> None:
    """The page's CSP refuses a request to another origin before it is made; without the page
    (about:blank has no policy) the tests' guard refuses it: "nothing left" is not vacuous."""
    page = browsing.page
    page.goto(page_server.url)
    reach_out = "fetch('http://example.org/').catch(() => null)"
    with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        page.evaluate(reach_out)
    assert browsing.refused == []
    page.goto("about:blank")
    page.evaluate(reach_out)
    assert browsing.refused == ["http://example.org/"]
    browsing.refused.clear()
    browsing.requested.remove("http://example.org/")
    browsing.problems.clear()


def test_a_document_over_the_limit_shows_the_413(
    browsing: Browsing, page_server: RunningServer
) -> None:
    page = browsing.page
    browsing.expected.append("the server responded with a status of 413")
    page.goto(page_server.url)
    page.locator('input[name="model"]').first.wait_for()
    page.locator("#text").fill("α" * (PAGE_LIMIT + 1))
    assert "over the service's limit" in page.locator("#count").inner_text()
    page.get_by_role("button", name="Tag entities").click()
    status = page.locator("#status")
    status.filter(has_text="413").wait_for()
    assert f"at most {PAGE_LIMIT}" in status.inner_text()
    assert page.locator("#results").is_hidden()


def test_no_entities_and_a_lost_network_are_said(
    browsing: Browsing, page_server: RunningServer
) -> None:
    page = browsing.page
    tag_in_page(page, page_server.url, "", "The weather was fine on Tuesday.", expect="No entities")
    assert "No entities found by chemical, disease, gene, species" in page.inner_text("#status")
    assert page.locator("#doc mark").count() == 0
    browsing.expected.append("net::ERR_CONNECTION_REFUSED")
    page.route("**/tag*", lambda route: route.abort("connectionrefused"))
    page.get_by_role("button", name="Tag entities").click()
    page.locator("#status").filter(has_text="Network error").wait_for()


def test_an_unready_service_answers_503_with_retry_after(
    browsing: Browsing, tmp_path: Path
) -> None:
    """A service without models refuses with 503 and Retry-After: the page says both."""
    empty = tmp_path / "models"
    empty.mkdir()
    server = start_server(empty, tmp_path / "server.log", BIOTAG_RETRY_AFTER_S="7")
    browsing.expected.append("the server responded with a status of 503")
    try:
        page = browsing.page
        page.goto(server.url)
        page.get_by_text("No model is loaded yet").wait_for()
        page.locator("#text").fill("Cisplatin nephrotoxicity.")
        page.get_by_role("button", name="Tag entities").click()
        status = page.locator("#status")
        status.filter(has_text="503").wait_for()
        assert "Retry after 7 s" in status.inner_text()
    finally:
        stop_server(server)


def test_the_page_fits_a_phone(
    browsing: Browsing, page_server: RunningServer, tmp_path: Path
) -> None:
    page = browsing.page
    page.set_viewport_size({"width": 390, "height": 844})
    pmid, text = real_abstract()
    tag_in_page(page, page_server.url, pmid, text)
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], "the page scrolls sideways on a phone"
    assert page.get_by_role("button", name="Tag entities").is_visible()
    page.screenshot(path=str(tmp_path / "web-page-phone.png"), full_page=True)


def test_a_pubtator_file_is_read_and_tagged_whole(
    browsing: Browsing, page_server: RunningServer, tmp_path: Path
) -> None:
    """Three real documents in PubTator (annotations and all): each opens in the form, an edit
    to one is kept, "Tag all" sends the three, and the PubTator download is the API's."""
    blocks = (ABSTRACTS / "devel.pubtator").read_text(encoding="utf-8").strip().split("\n\n")
    upload = tmp_path / "three.pubtator"
    upload.write_text("\n\n".join(blocks[:3]) + "\n", encoding="utf-8")
    documents = []
    for block in blocks[:3]:
        title, abstract = (line.split("|", 2) for line in block.splitlines()[:2])
        documents.append({"id": title[0], "text": f"{title[2]}\n{abstract[2]}"})
    page = browsing.page
    page.goto(page_server.url)
    page.locator('input[name="model"]').first.wait_for()
    page.locator("#file").set_input_files(upload)
    page.locator("#status").filter(has_text="Read 3 PubTator document(s)").wait_for()
    for index, document in enumerate(documents):
        page.locator("#doc-pick").select_option(str(index))
        assert page.locator("#doc-id").input_value() == document["id"]
        assert page.locator("#text").input_value() == document["text"]
    documents[2]["text"] = "Edited: " + documents[2]["text"]
    page.locator("#text").fill(documents[2]["text"])
    page.get_by_role("button", name="Tag all 3 documents").click()
    page.locator("#status").filter(has_text="in 3 documents").wait_for()

    body = {"documents": documents, "models": ["chemical", "disease", "gene", "species"]}
    answer = _api(page_server, body).json()["documents"]
    for index, tagged in enumerate(answer):
        page.locator("#result-pick").select_option(str(index))
        expected = {i: e["text"] for i, e in enumerate(tagged["entities"])}
        assert entity_texts_in_page(page) == expected, tagged["id"]
    with page.expect_download() as download:
        page.get_by_role("button", name="PubTator", exact=True).click()
    saved = Path(download.value.path()).read_bytes()
    assert saved == _api(page_server, body, "pubtator").content
    assert saved.count(b"|t|") == 3


def test_crossing_overlaps_nest_into_exact_fragments(
    browsing: Browsing, page_server: RunningServer
) -> None:
    """Entities of different models may cross (a: 2-5, b: 3-8); the DOM only nests, so the page
    cuts one at the other's end. Every entity's fragments must still join to its text, astral
    characters included."""
    page = browsing.page
    page.goto(page_server.url)
    text = "😀 αβ𝛾δ εζη"
    spans = [(2, 5), (3, 8), (3, 8), (5, 6), (0, 1), (9, 11)]
    fragments = page.evaluate(
        """async ([text, spans]) => {
            const { nest, codePoints } = await import("/static/spans.js");
            const points = codePoints(text);
            const out = spans.map(() => "");
            const walk = (nodes) => nodes.forEach((node) => {
                out[node.entity] += points.slice(node.start, node.end).join("");
                walk(node.children);
                for (const child of node.children) {
                    if (child.start < node.start || child.end > node.end) throw new Error("cross");
                }
            });
            walk(nest(spans.map(([start, end]) => ({ start, end }))));
            return out;
        }""",
        [text, spans],
    )
    assert fragments == [text[start:end] for start, end in spans]
