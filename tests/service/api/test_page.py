"""What the server adds for the web page, in process: the page and its files with their security
headers, the limits it is told, the setting that turns it off, and the package data that
carries the files into a wheel. (The page itself runs in test_page_browser.py.)"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from biotag import __version__
from biotag.service.api import page
from biotag.service.api.app import create_app
from biotag.service.config import REPO_MODELS_DIR, Settings

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "biotag" / "service" / "api" / "static"
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}


def _client(**settings: Any) -> TestClient:
    # no lifespan (the client is not entered): the page's routes need no loaded model
    return TestClient(create_app(Settings(models_dir=REPO_MODELS_DIR, **settings)))


class _References(HTMLParser):
    """Every URL the page names, inline code, and attributes CSP would refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]
        self.inline += [name for name, _ in attrs if name == "style" or name.startswith("on")]
        if tag == "style" or (tag == "script" and "src" not in values):
            self.inline.append(tag)


def _assert_page_headers(response: Any) -> None:
    csp = response.headers["content-security-policy"]
    assert csp.split(";")[0] == "default-src 'self'"
    assert "'unsafe-inline'" not in csp
    for name, value in HEADERS.items():
        assert response.headers[name] == value


def test_index_is_served_with_the_security_headers() -> None:
    response = _client().get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    _assert_page_headers(response)
    assert response.content == (STATIC / "index.html").read_bytes()


def test_the_page_names_only_its_own_files_and_nothing_inline() -> None:
    """CSP default-src 'self' refuses inline scripts, styles and handlers, and anything from
    another origin: the page must need none, or it would break in every browser."""
    references = _References()
    references.feed((STATIC / "index.html").read_text(encoding="utf-8"))
    assert references.inline == []
    client = _client()
    for url in references.urls:
        # relative (the page works under a proxy's path prefix too), never another origin
        assert re.match(r"^[a-z][a-z0-9/._-]*$", url), url
        if url.startswith("static/"):
            response = client.get(f"/{url}")
            assert response.status_code == 200, url
            _assert_page_headers(response)
    scripts_and_styles = [u for u in references.urls if u.endswith((".js", ".css"))]
    assert scripts_and_styles == ["static/page.css", "static/page.js"]


@pytest.mark.parametrize(
    ("name", "media_type"),
    [
        ("page.js", "text/javascript; charset=utf-8"),
        ("api.js", "text/javascript; charset=utf-8"),
        ("view.js", "text/javascript; charset=utf-8"),
        ("spans.js", "text/javascript; charset=utf-8"),
        ("page.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
def test_static_files_keep_their_bytes_and_type(name: str, media_type: str) -> None:
    """Module scripts under nosniff load only with a JavaScript type."""
    response = _client().get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.content == (STATIC / name).read_bytes()
    _assert_page_headers(response)


def test_static_files_load_nothing_from_elsewhere() -> None:
    """No URL to another host in the scripts or styles (an SVG's xmlns is a name, not a load)."""
    for path in STATIC.iterdir():
        content = path.read_text(encoding="utf-8")
        content = content.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", content, re.I) is None, path.name
        markup = re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write", content)
        assert markup is None, f"{path.name}: text must reach the DOM as text, never as markup"
        assert "@import" not in content, path.name
        assert "url(" not in content, path.name


@pytest.mark.parametrize("path", ["/static/nope.js", "/static/..%2Fpage.py", "/static/index.html"])
def test_unknown_static_names_are_404(path: str) -> None:
    response = _client().get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_config_tells_the_page_the_limits_and_no_paths() -> None:
    response = _client(max_document_chars=1234, max_documents=7).get("/page/config")
    assert response.status_code == 200
    _assert_page_headers(response)
    assert response.json() == {
        "version": __version__,
        "max_documents": 7,
        "max_document_chars": 1234,
        "max_request_bytes": Settings().max_request_bytes,
    }
    assert str(REPO_MODELS_DIR) not in response.text


def test_the_page_can_be_turned_off_and_the_api_stays() -> None:
    client = _client(web_page=False)
    for path in ("/", "/static/page.js", "/page/config"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
        assert "content-security-policy" not in response.headers
    assert client.get("/healthz").status_code == 200


def test_the_setting_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOTAG_WEB_PAGE", "false")
    assert Settings().web_page is False
    monkeypatch.delenv("BIOTAG_WEB_PAGE")
    assert Settings().web_page is True


def test_api_answers_keep_their_own_headers() -> None:
    """The policy is the page's own: API answers carry none (/docs has a looser one of its own,
    since Swagger UI starts from an inline script)."""
    response = _client().get("/healthz")
    assert "content-security-policy" not in response.headers


def test_package_data_carries_every_static_file() -> None:
    """A wheel or an image holds what [tool.setuptools.package-data] names; every file the
    router serves must match it, or an installed service would answer 404 for it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["biotag.service.api"]
    served = page.load_static()
    assert set(served) == {p.name for p in STATIC.iterdir() if p.is_file()}
    for name in served:
        assert any(fnmatch.fnmatch(f"static/{name}", pattern) for pattern in patterns), name
