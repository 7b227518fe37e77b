"""Soak: open-loop load at ~70% of the measured capacity with mixed document sizes (a sentence,
an abstract, ten abstracts as one document) for minutes, sampling every 10 s the resident memory
and open file descriptors of the whole `biotag serve` process tree and each interval's p99."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.reliability import clients
from bench.reliability.report import Figure, Row
from bench.reliability.servers import WORK, Server, Target, descendants, running

PART = "soak"
SOAK_MINUTES = 10.0
QUICK_MINUTES = 1.0
LOAD_SHARE = 0.7
SAMPLE_S = 10.0
WARM_UP_SHARE, WARM_UP_MAX_S = 0.2, 120.0  # the first 20% of the run, at most 2 minutes
FD_SLACK = 16  # descriptors a healthy server may open after warm-up (sockets of the moment)
RSS_GROWTH_LIMIT_PCT = 5.0
ANSWER_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Sample:
    at_s: float
    rss_mb: float
    fds: int


def _kinds() -> list[str]:
    """The mix, one document per request: a sentence, an abstract, ten abstracts."""
    texts = clients.abstracts()
    sentence = texts[0].split(". ")[0] + "."
    return [sentence, texts[1], "\n".join(texts[2:12])]


def body(index: int) -> dict[str, object]:
    kinds = _kinds()
    return {"documents": [{"id": str(index), "text": kinds[index % len(kinds)]}]}


def tree_sample(pid: int, at_s: float) -> Sample:
    """RSS and open descriptors summed over ``pid`` and every process below it."""
    rss_kb = fds = 0
    for member in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, ValueError, IndexError):
            status = Path(f"/proc/{member}/status").read_text()
            rss_kb += int(
                next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1]
            )
            fds += len(list(Path(f"/proc/{member}/fd").iterdir()))
    return Sample(round(at_s, 1), round(rss_kb / 1024, 1), fds)


def capacity_rps(url: str, seconds: float) -> float:
    """Requests per second of the mix that 4 closed-loop clients get answered."""
    with clients.closed_loop(url, 4, body) as attempts:
        time.sleep(seconds)
        stop = time.monotonic()
    began = min((a.began for a in attempts), default=stop)
    done = [a for a in attempts if a.ended <= stop and a.outcome == "200"]
    return len(done) / max(stop - began, 1e-9)


async def _open_loop(
    server: Server, rate: float, seconds: float
) -> tuple[list[clients.Attempt], list[Sample]]:
    attempts: list[clients.Attempt] = []
    samples: list[Sample] = []
    began = time.monotonic()

    async def one(http: httpx.AsyncClient, index: int) -> None:
        sent = time.monotonic()
        try:
            outcome = clients.outcome_of(await http.post("/tag", json=body(index)))
        except httpx.HTTPError as exc:
            outcome = type(exc).__name__
        attempts.append(clients.Attempt(0, sent - began, time.monotonic() - began, outcome))

    async def sampler() -> None:
        while True:
            samples.append(tree_sample(server.pid, time.monotonic() - began))
            await asyncio.sleep(SAMPLE_S)

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(
        base_url=server.url, timeout=ANSWER_TIMEOUT_S, limits=limits
    ) as http:
        watcher = asyncio.ensure_future(sampler())
        tasks = []
        for index in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, began + index / rate - time.monotonic()))
            tasks.append(asyncio.ensure_future(one(http, index)))
        await asyncio.gather(*tasks)
        watcher.cancel()
    samples.append(tree_sample(server.pid, time.monotonic() - began))
    return attempts, samples


def interval_p99s(attempts: list[clients.Attempt], seconds: float) -> list[float]:
    """p99 latency (ms) of the requests answered in each SAMPLE_S interval (-1: none)."""
    p99s: list[float] = []
    start = 0.0
    while start < seconds:
        latencies = sorted(
            a.ended - a.began for a in attempts if start <= a.ended < start + SAMPLE_S
        )
        p99s.append(
            round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else -1.0
        )
        start += SAMPLE_S
    return p99s


def growth_pct(first: float, last: float) -> float:
    return round(100 * (last - first) / first, 2) if first else 0.0


def run(
    target: Target,
    quick: bool,
    minutes: float | None = None,
    capacity: float | None = None,
    work: Path = WORK,
) -> list[Row]:
    """``minutes``: default 1 (quick) or 10; ``capacity``: requests/s of the mix, measured
    (closed loop) when not given."""
    seconds = 60 * (minutes if minutes is not None else QUICK_MINUTES if quick else SOAK_MINUTES)
    warm_up_s = min(WARM_UP_MAX_S, WARM_UP_SHARE * seconds)
    with running(target, work) as server:
        measured = capacity or capacity_rps(server.url, 15.0 if quick else 30.0)
        rate = LOAD_SHARE * measured
        attempts, samples = asyncio.run(_open_loop(server, rate, seconds))
    warm = next((s for s in samples if s.at_s >= warm_up_s), samples[-1])
    last = samples[-1]
    p99s = interval_p99s(attempts, seconds)
    after_warm = [p for i, p in enumerate(p99s) if i * SAMPLE_S >= warm_up_s and p >= 0]
    rss_growth = growth_pct(warm.rss_mb, last.rss_mb)
    answered = sum(a.outcome == "200" for a in attempts)
    figures: dict[str, Figure] = {
        "minutes": round(seconds / 60, 2),
        "capacity_rps": round(measured, 2),
        "offered_rps": round(rate, 2),
        "requests": len(attempts),
        "answered_200": answered,
        "rss_mb_warm": warm.rss_mb,
        "rss_mb_end": last.rss_mb,
        "rss_growth_pct": rss_growth,
        "fds_warm": warm.fds,
        "fds_end": last.fds,
        "fd_growth": last.fds - warm.fds,
        "p99_first_ms": after_warm[0] if after_warm else -1.0,
        "p99_last_ms": after_warm[-1] if after_warm else -1.0,
        "p99_max_ms": max(after_warm, default=-1.0),
        "samples": len(samples),
    }
    ok = (
        answered == len(attempts)
        and last.fds <= warm.fds + FD_SLACK
        and rss_growth < RSS_GROWTH_LIMIT_PCT
    )
    outcome = (
        f"{answered}/{len(attempts)} answered 200 ({clients.tally(attempts)}); RSS "
        f"{warm.rss_mb} -> {last.rss_mb} MB, fds {warm.fds} -> {last.fds} after warm-up "
        f"({warm_up_s:g} s); p99 per {SAMPLE_S:g} s: {after_warm}"
    )
    case = f"{seconds / 60:g} min open loop at {LOAD_SHARE:.0%} of capacity, mixed sizes"
    return [Row(PART, target.name, case, outcome, figures, ok)]
