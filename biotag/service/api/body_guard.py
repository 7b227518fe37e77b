"""Request bodies the service will not parse: the wrong media type or encoding (415), too large
(413), too slow (408). Pure ASGI middleware, ahead of FastAPI's own body reading.

Every refusal of a body the client is still sending first reads the rest and throws it away
("lingering close"), up to ``oversize_drain_bytes`` and the body deadline: a client that sends
its whole body before it reads anything (Python's urllib, many pipelines) gets the JSON answer
instead of a broken pipe when the server would otherwise close under its feet.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from biotag.service.api.errors import (
    ApiError,
    BodyReadError,
    BodyTimeoutError,
    BodyTooLargeError,
    ErrorCode,
    refuse,
)
from biotag.service.api.state import ServiceState

JSON_MEDIA_TYPES = ("application/json",)


def media_type_problem(headers: dict[bytes, bytes]) -> str | None:
    """Why a body with these headers is not JSON the service reads; None when it is. A
    compressed body is refused outright, so no decompression bomb can reach the parser."""
    encoding = headers.get(b"content-encoding", b"identity").strip().lower()
    if encoding not in (b"", b"identity"):
        name = encoding.decode("latin-1")
        return f"Content-Encoding {name!r} is not accepted; send the body uncompressed"
    content_type = headers.get(b"content-type")
    if content_type is None:  # FastAPI would not parse it as JSON either
        return "a body needs Content-Type: application/json"
    media_type = content_type.split(b";", 1)[0].strip().lower().decode("latin-1")
    if media_type in JSON_MEDIA_TYPES or media_type.endswith("+json"):
        return None
    return f"Content-Type {media_type!r} is not accepted; send application/json"


def has_body(headers: dict[bytes, bytes]) -> bool:
    declared = headers.get(b"content-length", b"0")
    return b"transfer-encoding" in headers or (declared.isdigit() and int(declared) > 0)


async def drain(receive: Receive, budget_bytes: int, deadline: float) -> bool:
    """Read and discard the rest of a body; True when it ended within the budget and the
    deadline (the connection can then carry the answer, and further requests)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    received = 0
    try:
        # one timer for the whole body, not one per message: refusals are the hot path of a
        # storm, and wait_for would add a task to every receive
        async with asyncio.timeout(remaining):
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return False  # the client left
                received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return True
                if received > budget_bytes:
                    return False
    except TimeoutError:
        return False


class BodyGuardMiddleware:
    """Media type and encoding, size by Content-Length or while streaming, and the body
    deadline; answered in the error envelope."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state
        settings = state.settings
        self.max_bytes = settings.max_request_bytes
        self.drain_bytes = settings.oversize_drain_bytes
        self.timeout_s = settings.body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if not has_body(headers):
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + self.timeout_s
        problem = media_type_problem(headers)
        if problem is not None:
            error = ApiError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, problem)
            await self._refuse_unread(scope, receive, send, error, deadline)
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            too_large = BodyTooLargeError(self.max_bytes)
            error = ApiError(too_large.code, str(too_large.detail))
            await self._refuse_unread(scope, receive, send, error, deadline)
            return
        await self._guarded(scope, receive, send, deadline)

    async def _guarded(self, scope: Scope, receive: Receive, send: Send, deadline: float) -> None:
        received = 0
        body_done = False
        started = False

        async def guarded_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body: the route waits for a disconnect, for as long
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise BodyTimeoutError(self.timeout_s) from None
            if message["type"] != "http.request":
                return message
            received += len(message.get("body", b""))
            body_done = not message.get("more_body", False)
            if received > self.max_bytes:
                ended = body_done or await drain(receive, self.drain_bytes - received, deadline)
                body_done = True
                raise BodyTooLargeError(self.max_bytes, close=not ended)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, guarded_receive, tracking_send)
        except BodyReadError as exc:  # raised where no exception handler answered it
            if not started:
                error = ApiError(exc.code, str(exc.detail))
                await refuse(self.state, error, close=exc.close)(scope, receive, send)

    async def _refuse_unread(
        self, scope: Scope, receive: Receive, send: Send, error: ApiError, deadline: float
    ) -> None:
        drained = await discard_body(scope, receive, self.drain_bytes, deadline)
        await refuse(self.state, error, close=not drained)(scope, receive, send)


async def discard_body(scope: Scope, receive: Receive, budget_bytes: int, deadline: float) -> bool:
    """Before answering a request whose body nobody will parse: read the body and throw it
    away, within bounds; True when the connection can carry the answer and more requests. A
    client waiting for ``100 Continue`` has sent nothing and is answered at once (reading
    would invite the body)."""
    headers = dict(scope["headers"])
    if not has_body(headers):
        return True
    if headers.get(b"expect", b"").lower() == b"100-continue":
        return False
    declared = headers.get(b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > budget_bytes:
        return False
    return await drain(receive, budget_bytes, deadline)
