"""Every error the API returns: one exception type, mapped to HTTP in one place."""

from __future__ import annotations

import logging
from enum import StrEnum

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

logger = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "validation_error"
    MALFORMED_JSON = "malformed_json"
    REQUEST_TOO_LARGE = "request_too_large"
    TOO_MANY_DOCUMENTS = "too_many_documents"
    DOCUMENT_TOO_LARGE = "document_too_large"
    UNKNOWN_MODEL = "unknown_model"
    QUEUE_FULL = "queue_full"
    NOT_READY = "not_ready"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL_ERROR = "internal_error"


STATUS = {
    ErrorCode.VALIDATION_ERROR: 422,
    ErrorCode.MALFORMED_JSON: 422,
    ErrorCode.REQUEST_TOO_LARGE: 413,
    ErrorCode.TOO_MANY_DOCUMENTS: 413,
    ErrorCode.DOCUMENT_TOO_LARGE: 413,
    ErrorCode.UNKNOWN_MODEL: 404,
    ErrorCode.QUEUE_FULL: 503,
    ErrorCode.NOT_READY: 503,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.INTERNAL_ERROR: 500,
}


class ApiError(Exception):
    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        details: list[dict[str, object]] | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details
        self.retry_after_s = retry_after_s


def error_response(error: ApiError) -> Response:
    body: dict[str, object] = {"code": error.code.value, "message": error.message}
    if error.details:
        body["details"] = error.details
    headers = {"Retry-After": str(error.retry_after_s)} if error.retry_after_s else None
    return Response(
        orjson.dumps({"error": body}),
        status_code=STATUS[error.code],
        media_type="application/json",
        headers=headers,
    )


def _validation_details(exc: RequestValidationError) -> list[dict[str, object]]:
    """Location, message and type of each problem; never the offending input (could be MBs)."""
    return [
        {
            "loc": [str(part) for part in err.get("loc", ())],
            "msg": str(err.get("msg")),
            "type": err.get("type"),
        }
        for err in exc.errors()[:20]
    ]


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc)

    async def on_validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        details = _validation_details(exc)
        if any(d["type"] == "json_invalid" for d in details):
            return error_response(
                ApiError(ErrorCode.MALFORMED_JSON, "the body is not valid JSON", details=details)
            )
        return error_response(
            ApiError(ErrorCode.VALIDATION_ERROR, "the request is not valid", details=details)
        )

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ErrorCode.VALIDATION_ERROR
        )
        return error_response(ApiError(code, str(exc.detail)))

    async def on_unexpected(_: Request, exc: Exception) -> Response:
        logger.exception("unhandled error", exc_info=exc)
        return error_response(ApiError(ErrorCode.INTERNAL_ERROR, "internal error"))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
