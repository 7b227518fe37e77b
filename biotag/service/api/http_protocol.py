"""uvicorn's httptools protocol with what the ASGI app cannot do itself: a deadline for request
headers, and the error envelope for requests that are not HTTP at all.

A request reaches the app only once its headers are complete, so a client that sends them one
byte a second (slowloris) would hold its connection for ever: uvicorn's keep-alive timeout
stops counting at the first byte. Here the headers must be complete within
``header_timeout_s`` of the connection opening or of the previous response; otherwise the
client reads 408 and the connection closes. Both answers given here are counted by
``count_answer`` (the app's request metrics, which never see them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from biotag.service.api.errors import KINDS, ErrorCode
from biotag.service.api.request_id import new_request_id

logger = logging.getLogger(__name__)


def raw_error_response(code: ErrorCode, message: str, request_id: str) -> bytes:
    """A complete HTTP/1.1 answer in the error envelope, closing the connection."""
    status = KINDS[code].status
    body = orjson.dumps({"error": {"code": code.value, "message": message}})
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"x-request-id: {request_id}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout_s: float = 10.0
    count_answer: Callable[[int], None]  # called with the status of each answer given here

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None
        self._request_begun = False  # bytes of a request arrived since the timer was armed

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._request_begun = True
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._disarm_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_timer()  # the next request on this connection, if any

    def send_400_response(self, msg: str) -> None:
        self._disarm_header_timer()
        self._answer_and_close(ErrorCode.BAD_REQUEST, msg)

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        self._request_begun = False
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        busy = self.cycle is not None and not self.cycle.response_complete
        if busy:  # a pipelined request is being answered: its own deadlines apply
            return
        if not self._request_begun:  # an idle connection: nothing to answer
            self.transport.close()
            return
        message = f"the request headers did not arrive within {self.header_timeout_s:g} s"
        self._answer_and_close(ErrorCode.REQUEST_TIMEOUT, message)

    def _answer_and_close(self, code: ErrorCode, message: str) -> None:
        """Answer before any request could be read: no header was parsed, so the id is always
        a fresh one (and there is no route to name in the log line)."""
        request_id = new_request_id()
        status = KINDS[code].status
        # Logged before the answer leaves, so a client holding the id can find its line.
        logger.info(
            "connection answered %d %s (request id %s): %s", status, code.value, request_id, message
        )
        self.transport.write(raw_error_response(code, message, request_id))
        self.transport.close()
        self.count_answer(status)


def protocol_with_header_timeout(
    seconds: float, count_answer: Callable[[int], None]
) -> type[HeaderDeadlineProtocol]:
    """The protocol class to give uvicorn (``http=``) for this deadline, counting its own
    answers with ``count_answer``."""
    attributes = {"header_timeout_s": seconds, "count_answer": staticmethod(count_answer)}
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), attributes)
