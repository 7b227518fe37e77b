"""The error contract (build/reliability-contract.md) as checks on one answer: the envelope,
its Content-Type, the code that goes with the status, Retry-After where it must be."""

from __future__ import annotations

import json
from collections.abc import Mapping

# status -> the codes the contract allows with it
CODES: dict[int, frozenset[str]] = {
    400: frozenset({"bad_request"}),  # bytes that are not HTTP, answered by the protocol layer
    401: frozenset({"unauthorized"}),
    404: frozenset({"not_found", "unknown_model"}),
    405: frozenset({"method_not_allowed"}),
    408: frozenset({"request_timeout"}),
    413: frozenset({"request_too_large", "too_many_documents", "document_too_large"}),
    415: frozenset({"unsupported_media_type"}),
    422: frozenset({"validation_error", "malformed_json"}),
    429: frozenset({"too_many_requests"}),
    500: frozenset({"internal_error"}),
    503: frozenset({"queue_full", "not_ready"}),
}
RETRY_STATUSES = frozenset({429, 503})  # answered with Retry-After: back off, then retry


def error_code(body: bytes) -> str | None:
    """The envelope's code, None when the body is not the envelope."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(payload, dict) or set(payload) != {"error"}:
        return None
    error = payload["error"]
    if not isinstance(error, dict) or not {"code", "message"} <= set(error) <= {
        "code",
        "message",
        "details",
    }:
        return None
    code, message = error["code"], error["message"]
    if not isinstance(code, str) or not isinstance(message, str):
        return None
    if "details" in error and not isinstance(error["details"], list):
        return None
    return code


def error_problem(status: int, headers: Mapping[str, str], body: bytes) -> str | None:
    """What is wrong with an error answer (status >= 400) by the contract; None if nothing.
    ``headers``: names in lower case."""
    media = headers.get("content-type", "").split(";")[0].strip()
    if media != "application/json":
        return f"{status}: Content-Type {media or 'missing'}, not application/json"
    code = error_code(body)
    if code is None:
        return f"{status}: body not in the error envelope: {body[:200]!r}"
    allowed = CODES.get(status)
    if allowed is None:
        return f"{status} ({code}): a status the contract does not list"
    if code not in allowed:
        return f"{status}: code {code!r}, the contract says one of {sorted(allowed)}"
    if status in RETRY_STATUSES and not headers.get("retry-after", "").isdigit():
        return f"{status} ({code}): no Retry-After"
    if status not in RETRY_STATUSES and "retry-after" in headers:
        return f"{status} ({code}): Retry-After on an answer that retrying will not change"
    return None
