"""A lean closed-loop HTTP/1.1 client for the overload storm, and a probe of its own lag.

A storm of clients that resend the moment they are answered measures whichever side is
slower at a round trip. httpx spends about 1.5 ms of Python per request, so with 64 of its
clients on one event loop the bench's loop fell 100-190 ms behind and the refusal latencies
it reported were its own (the server answered in a fraction of that). Here each client is an
asyncio protocol that writes a prepared request and parses the answer with httptools, some
tens of microseconds per round trip; the loop's lag is measured alongside and reported, so a
figure can be told apart from a saturated generator.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

from bench.reliability.rawhttp import Answer

LAG_PROBE_S = 0.005


AnswerSink = Callable[[Answer], None]  # every request's answer, or why none came


@dataclass
class _Exchange(asyncio.Protocol):
    """One connection: sends a request, reads its answer, sends the next until ``deadline``."""

    request_for: Callable[[], bytes]
    sink: AnswerSink
    deadline: float
    closed: asyncio.Future[None]
    transport: asyncio.Transport | None = None
    began: float | None = None  # the request in flight, if any
    headers: dict[str, str] = field(default_factory=dict)  # of the answer being read
    body: bytearray = field(default_factory=bytearray)
    parser: httptools.HttpResponseParser = field(init=False)

    def __post_init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send_next()

    def _send_next(self) -> None:
        assert self.transport is not None
        if time.perf_counter() >= self.deadline:
            self.transport.close()
            return
        self.headers = {}
        self.body = bytearray()
        self.began = time.perf_counter()
        self.transport.write(self.request_for())

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail("HttpParserError")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.extend(body)

    def on_message_complete(self) -> None:
        assert self.began is not None
        assert self.transport is not None
        seconds = time.perf_counter() - self.began
        self.began = None
        self.sink(Answer(self.parser.get_status_code(), self.headers, bytes(self.body), seconds))
        if self.parser.should_keep_alive():
            self._send_next()
        else:
            self.transport.close()  # the driver opens a new connection

    def _fail(self, error: str) -> None:
        if self.began is not None:
            self.sink(Answer(None, seconds=time.perf_counter() - self.began, error=error))
            self.began = None
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(type(exc).__name__ if exc else "closed unanswered")
        if not self.closed.done():
            self.closed.set_result(None)


async def _client(
    host: str, port: int, request_for: Callable[[], bytes], sink: AnswerSink, deadline: float
) -> None:
    loop = asyncio.get_running_loop()
    while time.perf_counter() < deadline:
        closed: asyncio.Future[None] = loop.create_future()
        exchange = functools.partial(_Exchange, request_for, sink, deadline, closed)
        try:
            await loop.create_connection(exchange, host, port)
        except OSError as exc:
            sink(Answer(None, error=type(exc).__name__))
            await asyncio.sleep(0.05)  # no busy loop against a server that is gone
            continue
        await closed


async def _lag_probe(until: float, lags: list[float]) -> None:
    """How late the loop wakes a sleeper: the generator's own contribution to every figure."""
    while time.perf_counter() < until:
        began = time.perf_counter()
        await asyncio.sleep(LAG_PROBE_S)
        lags.append(time.perf_counter() - began - LAG_PROBE_S)


async def storm(
    url: str,
    clients: int,
    seconds: float,
    request_for: Callable[[], bytes],
    sink: AnswerSink,
    answer_timeout_s: float,
) -> list[float]:
    """``clients`` connections resending at once for ``seconds``; returns the loop's lags."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    deadline = time.perf_counter() + seconds
    lags: list[float] = []
    runs = [_client(host, port, request_for, sink, deadline) for _ in range(clients)]
    await asyncio.wait_for(
        asyncio.gather(_lag_probe(deadline, lags), *runs), seconds + answer_timeout_s
    )
    return lags


def post_json(url: str, path: str, body: bytes) -> bytes:
    """A complete keep-alive POST of a JSON body, ready to write."""
    parts = urlsplit(url)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body
