"""Admission control: at most ``max_concurrent_requests`` POST /tag requests in one process.

The outermost layer, so a refusal costs the event loop as little as it can: under a storm of
clients that resend the moment they are refused, every microsecond a refusal takes is taken
from the requests already admitted, and the refusals queue behind each other. The next
request past the limit is answered 429 here, before the id, metrics and API-key layers and
before its body is parsed; this layer writes its id, counts it and logs the refusals as one
line per second instead of one per request (a storm must not flood the log). The model
queues' own limit (503 queue_full) stays as the backstop for a few very large requests.

With API keys set, a request without a valid key is passed on unadmitted to get its 401: it
never holds a place, so a client without a key cannot crowd out the ones with one.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from biotag.service.api.auth import key_digests, key_matches, presented_key
from biotag.service.api.body_guard import discard_body
from biotag.service.api.errors import ApiError, ErrorCode, error_response
from biotag.service.api.request_id import HEADER, request_id_from
from biotag.service.api.state import ServiceState

logger = logging.getLogger(__name__)
ADMITTED_ROUTES = frozenset({("POST", "/tag")})
ROUTE = "/tag"
REFUSAL_LOG_INTERVAL_S = 1.0


class RefusalLog:
    """Counts refusals and writes one line per interval in which any came."""

    def __init__(self, limit: int, interval_s: float = REFUSAL_LOG_INTERVAL_S) -> None:
        self.limit = limit
        self.interval_s = interval_s
        self.count = 0

    def refused(self) -> None:
        self.count += 1
        if self.count == 1:
            asyncio.get_running_loop().call_later(self.interval_s, self.flush)

    def flush(self) -> None:
        count, self.count = self.count, 0
        if count:
            logger.info(
                "POST %s refused %d time(s) in %g s: too_many_requests (%d admitted already)",
                ROUTE,
                count,
                self.interval_s,
                self.limit,
            )


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        settings = state.settings
        self.limit = settings.max_concurrent_requests
        self.in_flight = 0
        self.digests = key_digests([key.get_secret_value() for key in settings.api_key])
        self.drain_bytes = settings.oversize_drain_bytes
        self.body_timeout_s = settings.body_timeout_s
        metrics = state.metrics
        self.in_flight_gauge = metrics.in_flight
        # the label children are looked up once: a refusal only increments them
        self.rejections = metrics.rejections.labels(ErrorCode.TOO_MANY_REQUESTS.value)
        self.answers = metrics.requests.labels(ROUTE, "POST", "429")
        self.durations = metrics.request_duration.labels(ROUTE)
        self.log = RefusalLog(self.limit)
        error = ApiError(
            ErrorCode.TOO_MANY_REQUESTS,
            f"this server process already holds {self.limit} requests; retry shortly",
        )
        answer = error_response(error, settings.retry_after_s)
        self.status = answer.status_code
        self.body = bytes(answer.body)
        self.headers = [(k, v) for k, v in answer.raw_headers if k != HEADER]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or (scope["method"], scope["path"]) not in ADMITTED_ROUTES
            or not self._authorized(scope)
        ):
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await self._refuse(scope, receive, send)
            return
        self.in_flight += 1
        self.in_flight_gauge.set(self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.in_flight_gauge.set(self.in_flight)

    def _authorized(self, scope: Scope) -> bool:
        if not self.digests:
            return True
        candidate = presented_key(scope["headers"])
        return candidate is not None and key_matches(candidate, self.digests)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        began = time.perf_counter()
        deadline = time.monotonic() + self.body_timeout_s
        drained = await discard_body(scope, receive, self.drain_bytes, deadline)
        request_id = request_id_from(scope["headers"]).encode("ascii")
        headers = [*self.headers, (HEADER, request_id)]
        if not drained:  # the body was not read to its end: the connection cannot go on
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})
        self.rejections.inc()
        self.answers.inc()
        self.durations.observe(time.perf_counter() - began)
        self.log.refused()
