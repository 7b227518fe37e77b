"""Admission control: at most ``max_concurrent_requests`` POST /tag requests in one process.

The next one is refused 429 before its body is parsed or tokenised, so a refusal costs
microseconds of the event loop however hard the service is pushed, and the requests already
admitted keep a bounded queue ahead of them. The model queues' own limit (503 queue_full)
stays as the backstop for a few very large requests.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from biotag.service.api.body_guard import discard_body
from biotag.service.api.errors import ApiError, ErrorCode, refuse
from biotag.service.api.state import ServiceState

ADMITTED_ROUTES = frozenset({("POST", "/tag")})


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state
        self.limit = state.settings.max_concurrent_requests
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) not in ADMITTED_ROUTES:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await self._refuse(scope, receive, send)
            return
        self.in_flight += 1
        self.state.metrics.in_flight.set(self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.state.metrics.in_flight.set(self.in_flight)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.state.settings
        deadline = time.monotonic() + settings.body_timeout_s
        drained = await discard_body(scope, receive, settings.oversize_drain_bytes, deadline)
        error = ApiError(
            ErrorCode.TOO_MANY_REQUESTS,
            f"this server process already holds {self.limit} requests; retry shortly",
        )
        await refuse(self.state, error, close=not drained)(scope, receive, send)
