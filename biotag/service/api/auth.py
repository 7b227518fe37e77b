"""The optional API key: a pure ASGI middleware that answers 401 before anything parses a body.

With ``BIOTAG_API_KEY`` unset it is not installed at all. With keys set, every request needs
``Authorization: Bearer <key>`` except the web page's own files (``/``, ``/static/...``: the
page holds no data, and it is where a user types the key), the API documentation (``/docs``,
``/redoc``, ``/openapi.json`` and their files under ``/docs/assets/``: they describe the API,
not its data) and, unless ``api_key_probes`` says otherwise, the probes and Prometheus
(``/healthz``, ``/readyz``, ``/metrics``). Everything else, unknown routes included, is
closed: a new route is protected without anyone remembering to list it.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from biotag.service.api.body_guard import discard_body
from biotag.service.api.docs_pages import DOC_ASSETS_PREFIX, DOC_PATHS
from biotag.service.api.errors import ApiError, ErrorCode, refuse
from biotag.service.api.state import ServiceState

PAGE_PATHS = frozenset({"/"})
PAGE_PREFIX = "/static/"
PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_SCHEME = b"bearer"


def _digest(secret: bytes) -> bytes:
    # equal lengths for compare_digest: a key's length is not told by the time a guess takes
    return hashlib.sha256(secret).digest()


def key_digests(keys: Sequence[str]) -> tuple[bytes, ...]:
    """What the middleware keeps of the keys: their SHA-256 digests, never the keys."""
    return tuple(_digest(key.encode("utf-8")) for key in keys)


def presented_key(headers: Sequence[tuple[bytes, bytes]]) -> bytes | None:
    """The credentials of ``Authorization: Bearer <key>`` (scheme case-insensitive, RFC
    7235); None when the header is missing or names another scheme."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, credentials = value.strip().partition(b" ")
            if scheme.lower() == _SCHEME and credentials.strip():
                return credentials.strip()
            return None
    return None


def key_matches(candidate: bytes, digests: Sequence[bytes]) -> bool:
    """Whether ``candidate`` is one of the keys, compared in constant time against every key:
    no early exit, so the time taken says neither whether nor which key matched."""
    presented = _digest(candidate)
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(presented, digest)
    return matched


def is_open(path: str, probes_need_key: bool) -> bool:
    """Whether ``path`` is answered without a key."""
    if path in PAGE_PATHS or path in DOC_PATHS:
        return True
    if path.startswith((PAGE_PREFIX, DOC_ASSETS_PREFIX)):
        return True
    return path in PROBE_PATHS and not probes_need_key


def _route_path(scope: Scope) -> str:
    """The path as the routes see it: behind a proxy that mounts the service under a prefix
    (``root_path``), without that prefix."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return (path[len(root) :] or "/") if root and path.startswith(root) else path


class ApiKeyMiddleware:
    """Refuse requests without a valid key with 401 ``unauthorized`` and ``WWW-Authenticate:
    Bearer``, counted in biotag_rejections_total; the body is never parsed."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state
        settings = state.settings
        self.digests = key_digests([key.get_secret_value() for key in settings.api_key])
        self.probes_need_key = settings.api_key_probes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(_route_path(scope), self.probes_need_key):
            await self.app(scope, receive, send)
            return
        candidate = presented_key(scope["headers"])
        if candidate is not None and key_matches(candidate, self.digests):
            await self.app(scope, receive, send)
            return
        message = (
            "an API key is required: send `Authorization: Bearer <key>`"
            if candidate is None
            else "the API key is not valid"
        )
        settings = self.state.settings
        deadline = time.monotonic() + settings.body_timeout_s
        # read, not parsed: a client that sends its whole body first must see the 401 too
        drained = await discard_body(scope, receive, settings.oversize_drain_bytes, deadline)
        error = ApiError(ErrorCode.UNAUTHORIZED, message)
        response = refuse(self.state, error, close=not drained)
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)
