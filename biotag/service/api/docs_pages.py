"""The API documentation pages, ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with no CDN.

FastAPI's own pages load Swagger UI and ReDoc from jsDelivr and fonts from Google, so on an
offline host (the one this service is built for) they stay blank. The same pages here take
their scripts, stylesheet and icon from fastapi-offline's package data, read once at start-up
and answered by name under ``/docs/assets/`` (as the web page's files are: no path to
resolve). ``app.py`` turns FastAPI's pages off and includes these.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from starlette.responses import HTMLResponse, Response

from biotag.service.api.errors import ApiError, ErrorCode
from biotag.service.api.page import StaticFile

SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"
# No image, font or fetch from another host: ReDoc always asks cdn.redoc.ly for its logo (and
# hides it when that fails), Swagger UI an online validator's badge unless told otherwise.
# Scripts are left alone: both pages start their UI with an inline one.
DOC_PAGE_HEADERS = {
    "Content-Security-Policy": "img-src 'self' data:; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
# FastAPI's own paths for the schema and the pages (auth.py leaves them all open)
OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
REDOC_URL = "/redoc"
DOC_ASSETS_PREFIX = "/docs/assets/"
DOC_PATHS = frozenset({OPENAPI_URL, DOCS_URL, OAUTH2_REDIRECT_URL, REDOC_URL})
ASSET_TYPES = {
    SWAGGER_JS: "text/javascript; charset=utf-8",
    REDOC_JS: "text/javascript; charset=utf-8",
    SWAGGER_CSS: "text/css; charset=utf-8",
    FAVICON: "image/png",
}


@cache  # package data cannot change under a running process: one read however many apps
def load_doc_assets() -> dict[str, StaticFile]:
    """The four files the pages load, by name; a package without one of them fails here, at
    start-up, rather than as a blank page."""
    folder = resources.files("fastapi_offline") / "static"
    return {
        name: StaticFile((folder / name).read_bytes(), media_type)
        for name, media_type in ASSET_TYPES.items()
    }


def _under_root(request: Request, path: str) -> str:
    """``path`` behind the proxy prefix the service is mounted under, if any."""
    root: str = request.scope.get("root_path", "")
    return f"{root}{path}"


def docs_router(title: str) -> APIRouter:
    """``/docs``, its OAuth2 redirect, ``/redoc`` and their files; URLs are prefixed with the
    request's ``root_path`` so the pages work behind a proxy that mounts the service."""
    assets = load_doc_assets()
    router = APIRouter(include_in_schema=False)

    @router.get(DOCS_URL)
    async def swagger_ui(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=_under_root(request, OPENAPI_URL),
            title=f"{title} - Swagger UI",
            swagger_js_url=_under_root(request, DOC_ASSETS_PREFIX + SWAGGER_JS),
            swagger_css_url=_under_root(request, DOC_ASSETS_PREFIX + SWAGGER_CSS),
            swagger_favicon_url=_under_root(request, DOC_ASSETS_PREFIX + FAVICON),
            oauth2_redirect_url=_under_root(request, OAUTH2_REDIRECT_URL),
            swagger_ui_parameters={"validatorUrl": None},
        )
        page.headers.update(DOC_PAGE_HEADERS)
        return page

    @router.get(OAUTH2_REDIRECT_URL)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get(REDOC_URL)
    async def redoc(request: Request) -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=_under_root(request, OPENAPI_URL),
            title=f"{title} - ReDoc",
            redoc_js_url=_under_root(request, DOC_ASSETS_PREFIX + REDOC_JS),
            redoc_favicon_url=_under_root(request, DOC_ASSETS_PREFIX + FAVICON),
            with_google_fonts=False,
        )
        page.headers.update(DOC_PAGE_HEADERS)
        return page

    @router.get(DOC_ASSETS_PREFIX + "{name}")
    async def asset(name: str) -> Response:
        found = assets.get(name)
        if found is None:
            raise ApiError(ErrorCode.NOT_FOUND, "Not Found")
        # no-cache: revalidate, so an upgraded package never pairs old and new files
        headers = {"Cache-Control": "no-cache"}
        return Response(found.body, media_type=found.media_type, headers=headers)

    return router
