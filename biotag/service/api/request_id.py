"""Request ids and the request log: every request gets an id, every answer carries it, every log
record written while the request is handled holds it, and each failed request leaves one line.

The id is the client's ``X-Request-ID`` when it is short and plain (at most 128 characters of
``A-Za-z0-9._-``: safe to echo in a header and to write in a log line), else a fresh uuid4 in
hex. It lives in a context variable, so any logger of any layer that runs in the request's task
(the tagger, the error handlers) gets it as the record attribute ``request_id`` through the log
record factory installed here ("-" outside a request).

What is logged: method, route template, status and duration; never a header (the API key is
one), a body or a document's text. ``log_documents`` with ``log_level=debug`` is the one
exception, asked for explicitly, to debug a tagging problem.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from typing import Any, TextIO

from pydantic import ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from biotag.service.api.errors import ApiError, ErrorCode, refuse
from biotag.service.api.schemas import TagRequest
from biotag.service.api.state import ServiceState

logger = logging.getLogger(__name__)
HEADER = b"x-request-id"
NO_REQUEST = "-"  # the attribute's value outside a request
LOG_FORMAT = "%(levelname)s:     [%(request_id)s] %(name)s: %(message)s"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
_UNMATCHED_PATH_CHARS = 200  # of an unknown route's path in its log line

_current: ContextVar[str | None] = ContextVar("biotag_request_id", default=None)


def current_request_id() -> str | None:
    """The id of the request being handled in this task; None outside one."""
    return _current.get()


def request_id_from(headers: Sequence[tuple[bytes, bytes]]) -> str:
    """The client's X-Request-ID when it is sane, else a fresh one."""
    for name, value in headers:
        if name.lower() == HEADER:
            candidate = value.decode("latin-1")
            if _SANE_ID.fullmatch(candidate):
                return candidate
            break
    return new_request_id()


def new_request_id() -> str:
    return uuid.uuid4().hex


class _RequestIdRecords:
    """A log record factory: the one it wraps, plus ``request_id`` on every record."""

    def __init__(self, wrapped: Callable[..., logging.LogRecord]) -> None:
        self.wrapped = wrapped

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.wrapped(*args, **kwargs)
        record.request_id = _current.get() or NO_REQUEST
        return record


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a record comes (a test runner swaps it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def install_logging(level: str) -> None:
    """Every log record gets ``request_id``; and where the process configured no logging of
    its own (``biotag serve``: uvicorn configures only its own loggers), the service's records
    go to stderr at ``level`` with the id in each line. Idempotent (one app per test)."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _RequestIdRecords):  # wraps whatever factory is there
        logging.setLogRecordFactory(_RequestIdRecords(factory))
    service = logging.getLogger("biotag")
    if logging.getLogger().handlers or any(isinstance(h, _StderrHandler) for h in service.handlers):
        return
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    service.addHandler(handler)
    service.setLevel(level.upper())


def _route_of(scope: Scope) -> str:
    """The route template (``/tag``) once routing matched; else the path, quoted and cut."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if isinstance(template, str):
        return template
    return repr(scope["path"][:_UNMATCHED_PATH_CHARS])


def _log_documents(request_id: str, body: bytes) -> None:
    try:
        documents = TagRequest.model_validate_json(body).resolved_documents()
    except ValidationError:
        return  # refused anyway; its problems are in the answer
    for index, document in enumerate(documents):
        logger.debug(
            "request %s document %d (id %r): %r", request_id, index, document.id, document.text
        )


class RequestIdMiddleware:
    """Outermost: sets the id, adds ``X-Request-ID`` to every answer (a 500 included: an
    exception escaping the app is answered here with the envelope before it travels on to be
    logged), and logs one line per failed request."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state
        settings = state.settings
        self.log_documents = settings.log_documents
        self.max_logged_body = settings.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        _current.set(request_id)  # this task's context: each request runs in its own task
        began = time.perf_counter()
        status: int | None = None
        body = bytearray()
        keep_body = (
            self.log_documents
            and logger.isEnabledFor(logging.DEBUG)
            and scope["method"] == "POST"
            and scope["path"].endswith("/tag")  # behind a proxy's path prefix too
        )

        async def receive_kept() -> Message:
            message = await receive()
            if message["type"] == "http.request" and len(body) <= self.max_logged_body:
                body.extend(message.get("body", b""))
            return message

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                headers.append((HEADER, request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive_kept if keep_body else receive, send_with_id)
        except Exception:
            if status is None:  # what ServerErrorMiddleware would send, with the id
                error = ApiError(ErrorCode.INTERNAL_ERROR, "internal error")
                await refuse(self.state, error)(scope, receive, send_with_id)
                status = 500
            raise
        finally:
            elapsed_ms = (time.perf_counter() - began) * 1000
            if keep_body and len(body) <= self.max_logged_body:
                _log_documents(request_id, bytes(body))
            if status is None or status >= 400:
                # no answer at all: the client left (its work was withdrawn)
                level = logging.WARNING if status is not None and status >= 500 else logging.INFO
                logger.log(
                    level,
                    "%s %s answered %s in %.1f ms",
                    scope["method"],
                    _route_of(scope),
                    status if status is not None else "nothing",
                    elapsed_ms,
                )
