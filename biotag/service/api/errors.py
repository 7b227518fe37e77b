"""Every error the API returns, in one place: the codes with their HTTP status and Retry-After,
the exceptions of the layers below mapped onto them, and the handlers that answer them all in
one envelope, ``{"error": {"code", "message", "details"?}}``."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from biotag.service.api.state import ServiceState, state_of
from biotag.service.config import Settings
from biotag.service.inference.batcher import (
    BatcherStoppedError,
    QueueFullError,
    TooManySequencesError,
)
from biotag.service.inference.tagging import UnknownModelError

logger = logging.getLogger(__name__)
MAX_DETAILS = 20  # validation problems listed in one answer; the rest are only counted


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    VALIDATION_ERROR = "validation_error"
    MALFORMED_JSON = "malformed_json"
    REQUEST_TOO_LARGE = "request_too_large"
    REQUEST_TIMEOUT = "request_timeout"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    TOO_MANY_REQUESTS = "too_many_requests"
    TOO_MANY_DOCUMENTS = "too_many_documents"
    DOCUMENT_TOO_LARGE = "document_too_large"
    UNKNOWN_MODEL = "unknown_model"
    QUEUE_FULL = "queue_full"
    NOT_READY = "not_ready"
    UNAUTHORIZED = "unauthorized"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class ErrorKind:
    status: int
    retry: bool = False  # answered with Retry-After: the same request may succeed later
    refusal: bool = True  # counted in biotag_rejections_total (not for unknown routes or bugs)


KINDS: dict[ErrorCode, ErrorKind] = {
    ErrorCode.BAD_REQUEST: ErrorKind(400),  # not HTTP at all: answered by the protocol
    ErrorCode.VALIDATION_ERROR: ErrorKind(422),
    ErrorCode.MALFORMED_JSON: ErrorKind(422),
    ErrorCode.REQUEST_TOO_LARGE: ErrorKind(413),
    ErrorCode.REQUEST_TIMEOUT: ErrorKind(408),
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: ErrorKind(415),
    # 429: this process already holds max_concurrent_requests; 503: a queue is full or the
    # service cannot work at all (loading, stopping, engine gone). Both: retry after a while.
    ErrorCode.TOO_MANY_REQUESTS: ErrorKind(429, retry=True),
    ErrorCode.TOO_MANY_DOCUMENTS: ErrorKind(413),
    ErrorCode.DOCUMENT_TOO_LARGE: ErrorKind(413),
    ErrorCode.UNKNOWN_MODEL: ErrorKind(404),
    ErrorCode.QUEUE_FULL: ErrorKind(503, retry=True),
    ErrorCode.NOT_READY: ErrorKind(503, retry=True),
    ErrorCode.UNAUTHORIZED: ErrorKind(401),  # BIOTAG_API_KEY set: no or a wrong key
    ErrorCode.NOT_FOUND: ErrorKind(404, refusal=False),
    ErrorCode.METHOD_NOT_ALLOWED: ErrorKind(405, refusal=False),
    ErrorCode.INTERNAL_ERROR: ErrorKind(500, refusal=False),
}

# What the layers below raise, as the API answers it: code and message, a template formatted
# with ``settings`` (None: the exception's own message, written for users). Handlers are found
# along the exception's class hierarchy, so the shared engine's EngineLostError answers as
# BatcherStoppedError does.
EXCEPTIONS: dict[type[Exception], tuple[ErrorCode, str | None]] = {
    UnknownModelError: (ErrorCode.UNKNOWN_MODEL, None),
    TooManySequencesError: (
        ErrorCode.REQUEST_TOO_LARGE,
        "the documents need more windows than one queue holds "
        "({settings.max_queue_windows}); send fewer or shorter documents",
    ),
    QueueFullError: (ErrorCode.QUEUE_FULL, "the service is at capacity; retry shortly"),
    BatcherStoppedError: (ErrorCode.NOT_READY, "the inference engine stopped"),
}


class ApiError(Exception):
    """A refusal the API layer decides itself (limits, ids a format cannot carry, readiness)."""

    def __init__(
        self, code: ErrorCode, message: str, *, details: list[dict[str, object]] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class BodyReadError(StarletteHTTPException):
    """Raised while a body arrives (too large, too slow). An HTTPException, because FastAPI
    turns any other exception raised while it reads a body into a 400 "error parsing the body".

    ``close``: the rest of the body was not read, so the connection cannot carry another
    request and the answer says ``Connection: close``.
    """

    def __init__(self, status: int, code: ErrorCode, message: str, *, close: bool) -> None:
        super().__init__(status, message)
        self.code = code
        self.close = close


class BodyTooLargeError(BodyReadError):
    def __init__(self, max_bytes: int, *, close: bool = False) -> None:
        message = f"the request body exceeds {max_bytes} bytes"
        super().__init__(413, ErrorCode.REQUEST_TOO_LARGE, message, close=close)


class BodyTimeoutError(BodyReadError):
    def __init__(self, timeout_s: float) -> None:
        message = f"the request body did not arrive within {timeout_s:g} s"
        super().__init__(408, ErrorCode.REQUEST_TIMEOUT, message, close=True)


def error_response(error: ApiError, retry_after_s: int) -> Response:
    """The envelope, with the code's status, and Retry-After where the code says so."""
    kind = KINDS[error.code]
    body: dict[str, object] = {"code": error.code.value, "message": error.message}
    if error.details:
        body["details"] = error.details
    headers = {"Retry-After": str(retry_after_s)} if kind.retry else None
    return Response(
        orjson.dumps({"error": body}),
        status_code=kind.status,
        media_type="application/json",
        headers=headers,
    )


def refuse(state: ServiceState, error: ApiError, *, close: bool = False) -> Response:
    """The answer to a failed request, counted by its code where it refuses work. ``close``:
    the connection cannot carry another request (its body was not read to the end)."""
    if KINDS[error.code].refusal:
        state.metrics.rejections.labels(error.code.value).inc()
    response = error_response(error, state.settings.retry_after_s)
    if close:
        response.headers["Connection"] = "close"
    return response


def from_exception(exc: Exception, settings: Settings) -> ApiError:
    """The API error for an exception of the layers below (one of EXCEPTIONS or a subclass)."""
    cls = next(cls for cls in type(exc).__mro__ if cls in EXCEPTIONS)
    code, template = EXCEPTIONS[cls]
    return ApiError(code, str(exc) if template is None else template.format(settings=settings))


def validation_details(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, object]]:
    """Location, message and type of the first problems; never the offending input (it could
    be megabytes)."""
    details: list[dict[str, object]] = [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg")),
            "type": err.get("type"),
        }
        for err in errors[:MAX_DETAILS]
    ]
    if len(errors) > MAX_DETAILS:
        details.append({"msg": f"and {len(errors) - MAX_DETAILS} more problems", "type": "more"})
    return details


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return refuse(state_of(request), exc)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        details = validation_details(errors)
        if any(err.get("type") == "json_invalid" for err in errors):
            error = ApiError(
                ErrorCode.MALFORMED_JSON, "the body is not valid JSON", details=details
            )
        else:
            error = ApiError(
                ErrorCode.VALIDATION_ERROR, "the request is not valid", details=details
            )
        return refuse(state_of(request), error)

    async def on_body_read_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BodyReadError)
        return refuse(state_of(request), ApiError(exc.code, str(exc.detail)), close=exc.close)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {
            # FastAPI's 400: the body broke the JSON parser itself (nested too deep...)
            400: ErrorCode.MALFORMED_JSON,
            404: ErrorCode.NOT_FOUND,
            405: ErrorCode.METHOD_NOT_ALLOWED,
        }.get(exc.status_code, ErrorCode.VALIDATION_ERROR)
        return refuse(state_of(request), ApiError(code, str(exc.detail)))

    async def on_lower_layer_error(request: Request, exc: Exception) -> Response:
        state = state_of(request)
        return refuse(state, from_exception(exc, state.settings))

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        # the type and where, not the message: a message may quote the input (document text)
        where = "".join(traceback.format_tb(exc.__traceback__))
        logger.error("unhandled %s\n%s", type(exc).__qualname__, where.rstrip())
        return refuse(state_of(request), ApiError(ErrorCode.INTERNAL_ERROR, "internal error"))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(BodyReadError, on_body_read_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    for exception_type in EXCEPTIONS:
        app.add_exception_handler(exception_type, on_lower_layer_error)
    app.add_exception_handler(Exception, on_unexpected)
