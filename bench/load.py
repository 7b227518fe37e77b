"""HTTP load generators: closed loop (N clients, each sends its next request when answered) and
open loop (requests started at a fixed rate whatever the answers, for latency at a given load)."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class LoadResult:
    clients: int
    docs_per_request: int
    requests: int
    documents: int
    seconds: float
    latencies: list[float]

    @property
    def docs_per_second(self) -> float:
        return self.documents / self.seconds

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict[str, float]:
        return {
            "clients": self.clients,
            "docs_per_request": self.docs_per_request,
            "abstracts_per_s": round(self.docs_per_second, 2),
            "p50_ms": round(1000 * statistics.median(self.latencies), 1),
            "p95_ms": round(1000 * self.percentile(0.95), 1),
            "p99_ms": round(1000 * self.percentile(0.99), 1),
        }


async def run_load(
    url: str,
    texts: list[str],
    clients: int,
    docs_per_request: int,
    requests: int,
    duration_s: float | None = None,
) -> LoadResult:
    """Send up to ``requests`` requests from ``clients`` concurrent clients (no new one after
    ``duration_s``, if given); time the whole run."""
    counter = iter(range(requests))
    latencies: list[float] = []

    async def client(http: httpx.AsyncClient) -> None:
        async with http:
            for index in counter:
                began = time.perf_counter()
                if deadline is not None and began > deadline:
                    return
                documents = _documents(texts, index, docs_per_request)
                response = await http.post("/tag", json={"documents": documents})
                response.raise_for_status()
                latencies.append(time.perf_counter() - began)

    # each client its own connection pool: one pool shared by N connections costs its client
    # O(N) work per request (httpx 0.28: 1.1 ms at 8 connections, 4.3 ms at 128), and the load
    # generator, not the server, became the limit at 128 clients. Plain HTTP: verify=False
    # spares each client loading the CA bundle (31 ms of CPU apiece).
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    http_clients = [
        httpx.AsyncClient(base_url=url, timeout=600, limits=limits, verify=False)
        for _ in range(clients)
    ]
    began = time.perf_counter()
    deadline = None if duration_s is None else began + duration_s
    await asyncio.gather(*(client(http) for http in http_clients))
    seconds = time.perf_counter() - began
    sent = len(latencies)
    return LoadResult(clients, docs_per_request, sent, sent * docs_per_request, seconds, latencies)


def _documents(texts: list[str], index: int, docs_per_request: int) -> list[dict[str, str]]:
    first = index * docs_per_request
    numbers = range(first, first + docs_per_request)
    return [{"id": str(i), "text": texts[i % len(texts)]} for i in numbers]


async def run_open_loop(
    url: str, texts: list[str], docs_per_second: float, docs_per_request: int, requests: int
) -> LoadResult:
    """Start ``requests`` requests evenly spaced at ``docs_per_second``; latency of each.

    ``clients`` in the result is the most requests that were in flight at once.
    """
    interval = docs_per_request / docs_per_second
    latencies: list[float] = []
    in_flight = peak = 0

    async def one(http: httpx.AsyncClient, index: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        documents = _documents(texts, index, docs_per_request)
        began = time.perf_counter()
        response = await http.post("/tag", json={"documents": documents})
        response.raise_for_status()
        latencies.append(time.perf_counter() - began)
        in_flight -= 1

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits, verify=False) as http:
        began = time.perf_counter()
        tasks = []
        for index in range(requests):
            await asyncio.sleep(max(0.0, began + index * interval - time.perf_counter()))
            tasks.append(asyncio.ensure_future(one(http, index)))
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - began
    return LoadResult(
        peak, docs_per_request, requests, requests * docs_per_request, seconds, latencies
    )
