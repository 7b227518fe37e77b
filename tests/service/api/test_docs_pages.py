"""The API documentation pages in process: every file /docs and /redoc name is the service's own,
answered with its type, also behind a proxy prefix and with an API key set. (Both pages render
in Chromium with nothing reachable but the service in test_docs_browser.py.)"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from biotag.service.api.app import create_app
from biotag.service.config import REPO_MODELS_DIR, Settings

ASSET_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}


def _client(root_path: str = "", **settings: Any) -> TestClient:
    # no lifespan (the client is not entered): the documentation needs no loaded model
    app = create_app(Settings(models_dir=REPO_MODELS_DIR, **settings))
    return TestClient(app, root_path=root_path)


def _named_urls(html: str) -> list[str]:
    """Every URL a documentation page loads: src/href attributes and the quoted spec URL."""
    attributes = re.findall(r'(?:src|href|spec-url)="([^"]+)"', html)
    quoted = re.findall(r"url: '([^']+)'", html)
    return attributes + quoted


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_a_documentation_page_loads_nothing_from_another_host(page: str) -> None:
    client = _client()
    response = client.get(page)
    assert response.status_code == 200
    urls = _named_urls(response.text)
    assert len(urls) >= 3, "the script, the icon and the OpenAPI document"
    assert all(urlsplit(url).netloc == "" for url in urls), urls
    assert "fonts.googleapis.com" not in response.text
    assert "img-src 'self' data:" in response.headers["content-security-policy"]
    for url in urls:
        served = client.get(url)
        assert served.status_code == 200, url
        suffix = "." + url.rpartition(".")[2]
        if suffix in ASSET_TYPES:
            assert served.headers["content-type"] == ASSET_TYPES[suffix]
            assert len(served.content) > 1000
        else:
            assert "/tag" in served.json()["paths"]


def test_behind_a_proxy_prefix_the_pages_name_prefixed_urls() -> None:
    html = _client(root_path="/biotag").get("/docs").text
    urls = _named_urls(html)
    assert len(urls) >= 3
    assert all(url.startswith("/biotag/") for url in urls), urls


def test_the_documentation_is_open_with_an_api_key_and_unknown_files_are_not_found() -> None:
    client = _client(api_key=["secret-key-1"])
    html = client.get("/docs").text
    for url in _named_urls(html):
        assert client.get(url).status_code == 200, url
    assert client.get("/docs/oauth2-redirect").status_code == 200
    missing = client.get("/docs/assets/core.py")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    assert client.post("/tag", json={"text": "x"}).status_code == 401
