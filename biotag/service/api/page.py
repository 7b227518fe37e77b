"""The web page: ``GET /`` and its static files, served by the service itself.

The page is hand-written HTML, CSS and JavaScript shipped as package data (``static/``), so a
wheel or an image carries it and a browser loads nothing from anywhere else: the responses say
so with ``Content-Security-Policy: default-src 'self'`` (which also forbids inline scripts and
styles, so the files keep none). The policy is set on the page's responses only: the OpenAPI UI
at ``/docs`` is Swagger UI's own page (docs_pages.py: from package data too, no CDN), whose
inline script the same policy would break.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import orjson
from fastapi import APIRouter
from starlette.responses import Response

from biotag import __version__
from biotag.service.api.errors import ApiError, ErrorCode
from biotag.service.api.state import StateDep

# frame-ancestors: default-src does not cover framing, and a tagging page has no business in
# someone else's frame
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# module scripts need a JavaScript type under nosniff; the charset keeps astral characters in
# the files intact whatever the browser guesses
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    media_type: str


def load_static() -> dict[str, StaticFile]:
    """Every file of ``static/`` by name, read once: the set is fixed at build time, and
    answering only these names leaves no path to resolve (no traversal to guard against)."""
    folder = resources.files(__package__ or "biotag.service.api") / "static"
    found: dict[str, StaticFile] = {}
    for entry in folder.iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if entry.is_file() and suffix in MEDIA_TYPES:
            found[entry.name] = StaticFile(entry.read_bytes(), MEDIA_TYPES[suffix])
    return found


def page_response(body: bytes, media_type: str) -> Response:
    # no-cache: revalidate on every load, so an upgraded service never runs yesterday's script
    headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return Response(body, media_type=media_type, headers=headers)


def page_router() -> APIRouter:
    """The routes of the page; app.py includes them unless ``web_page`` is off."""
    files = load_static()
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def index() -> Response:
        page = files["index.html"]
        return page_response(page.body, page.media_type)

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        found = files.get(name)
        if found is None or name == "index.html":
            raise ApiError(ErrorCode.NOT_FOUND, "Not Found")
        return page_response(found.body, found.media_type)

    @router.get("/page/config")
    async def config(state: StateDep) -> Response:
        """What the page needs to know before a request: the limits POST /tag applies (so the
        counter shows the real one) and the version. Nothing about hosts or file paths."""
        settings = state.settings
        payload = {
            "version": __version__,
            "max_documents": settings.max_documents,
            "max_document_chars": settings.max_document_chars,
            "max_request_bytes": settings.max_request_bytes,
        }
        return page_response(orjson.dumps(payload), "application/json")

    return router
