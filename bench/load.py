"""A closed-loop HTTP load generator: N clients, each sends its next request when answered."""

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
    url: str, texts: list[str], clients: int, docs_per_request: int, requests: int
) -> LoadResult:
    """Send ``requests`` requests from ``clients`` concurrent clients; time the whole run."""
    counter = iter(range(requests))
    latencies: list[float] = []

    async def client(http: httpx.AsyncClient) -> None:
        for index in counter:
            start = index * docs_per_request
            documents = [
                {"id": str(i), "text": texts[i % len(texts)]}
                for i in range(start, start + docs_per_request)
            ]
            began = time.perf_counter()
            response = await http.post("/tag", json={"documents": documents})
            response.raise_for_status()
            latencies.append(time.perf_counter() - began)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as http:
        began = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        seconds = time.perf_counter() - began
    return LoadResult(
        clients, docs_per_request, requests, requests * docs_per_request, seconds, latencies
    )


def median_run(
    url: str, texts: list[str], clients: int, requests: int, repeats: int
) -> dict[str, float]:
    """Summary of the run with the median throughput among ``repeats`` runs (one doc each)."""
    runs = [asyncio.run(run_load(url, texts, clients, 1, requests)) for _ in range(repeats)]
    median = statistics.median(r.docs_per_second for r in runs)
    return min(runs, key=lambda r: abs(r.docs_per_second - median)).summary()
