"""Overload: capacity first (closed loop at saturation, bench/load.py), then closed- and
open-loop load at 2x and 4x it. Every answer is counted (200 / 429 / 503 / other / no answer);
refusals must carry Retry-After and come fast; accepted requests keep a bounded p99; the
server's memory is compared before and after.

Which load is "2x": open loop, 2x the measured capacity in documents/s (one abstract per
request), so the excess piles up and the admission limit refuses it. A closed loop cannot
offer more than it is served, so there "k x" means k times as many clients as the server
admits at once (BIOTAG_MAX_CONCURRENT_REQUESTS x workers) -- the excess clients are refused
and, like a careless client, retry at once (no back-off: the worst case for the refusal path).
The limit is set to 16 for the bench (default 64): on 2 shared cores 64 admitted abstracts
already queue for seconds, and 4 x 64 clients would make the load generator the bottleneck.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
import orjson

from bench import load
from bench.abstracts import ncbi_abstracts
from bench.http_bench import memory_mb
from bench.reliability.contract import error_code
from bench.reliability.rawhttp import Answer
from bench.reliability.report import Row
from bench.reliability.servers import Server, Target, running
from bench.reliability.storm_client import post_json, storm

PART = "overload"
MAX_CONCURRENT = 16
SERVER_ENV = {"BIOTAG_MAX_CONCURRENT_REQUESTS": str(MAX_CONCURRENT)}
SATURATION_CLIENTS = (4, 8)  # capacity: the best closed-loop rate over these
SECONDS = (12.0, 3.0)  # per load point: (full, quick)
FACTORS = (2, 4)
REFUSAL_P99_MS = 50.0  # the promise for refusals
ANSWER_TIMEOUT_S = 120.0
RSS_GROWTH_BOUND = 0.25  # warm server, before vs after: queues and buffers drained again


@dataclass
class Tally:
    """Every answer of one load point."""

    statuses: Counter[str] = field(default_factory=Counter)  # "200", "429", "none", ...
    accepted_s: list[float] = field(default_factory=list)
    refused_s: list[float] = field(default_factory=list)
    missing_retry_after: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # client-side: no answer
    generator_lag_s: list[float] = field(default_factory=list)  # closed loop: the client's own

    def record(self, answer: Answer) -> None:
        if answer.status is None:
            self.statuses["none"] += 1
            self.errors[answer.error or "no answer"] += 1
            return
        self.statuses[str(answer.status)] += 1
        if answer.status == 200:
            self.accepted_s.append(answer.seconds)
            return
        self.codes[error_code(answer.body) or "(no envelope)"] += 1
        if answer.status in (429, 503):
            self.refused_s.append(answer.seconds)
            if not answer.headers.get("retry-after", "").isdigit():
                self.missing_retry_after += 1

    @property
    def answered(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "none")

    @property
    def other(self) -> int:
        return sum(n for s, n in self.statuses.items() if s not in ("200", "429", "503", "none"))


def _ms(seconds: list[float], q: float) -> float:
    if not seconds:
        return -1.0
    ordered = sorted(seconds)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _body(text: str, index: int) -> bytes:
    return orjson.dumps({"documents": [{"id": str(index), "text": text}]})


async def _send(http: httpx.AsyncClient, tally: Tally, text: str, index: int) -> None:
    began = time.perf_counter()
    try:
        response = await http.post(
            "/tag", content=_body(text, index), headers={"Content-Type": "application/json"}
        )
    except httpx.HTTPError as exc:
        tally.record(Answer(None, seconds=time.perf_counter() - began, error=type(exc).__name__))
        return
    headers = dict(response.headers)  # httpx gives the names in lower case
    seconds = time.perf_counter() - began
    tally.record(Answer(response.status_code, headers, response.content, seconds))


async def closed_loop(url: str, texts: list[str], clients: int, seconds: float) -> Tally:
    """``clients`` clients, each on its own connection, sending its next request as soon as it
    has an answer (storm_client: lean enough that the figures are the server's)."""
    tally = Tally()
    counter = iter(range(10**9))

    def request_for() -> bytes:
        index = next(counter)
        return post_json(url, "/tag", _body(texts[index % len(texts)], index))

    tally.generator_lag_s = await storm(
        url, clients, seconds, request_for, tally.record, ANSWER_TIMEOUT_S
    )
    return tally


async def open_loop(url: str, texts: list[str], rate: float, seconds: float) -> Tally:
    """Requests started every 1/``rate`` s whatever the answers, for ``seconds``."""
    tally = Tally()
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    client = httpx.AsyncClient(base_url=url, timeout=ANSWER_TIMEOUT_S, limits=limits, verify=False)
    async with client as http:
        began = time.perf_counter()
        tasks = []
        for index in range(max(1, round(rate * seconds))):
            await asyncio.sleep(max(0.0, began + index / rate - time.perf_counter()))
            tasks.append(
                asyncio.ensure_future(_send(http, tally, texts[index % len(texts)], index))
            )
        await asyncio.gather(*tasks)
    return tally


def capacity(url: str, texts: list[str], seconds: float, quick: bool) -> float:
    """Abstracts/s at saturation: the best closed-loop rate (one abstract per request)."""
    rates = []
    for clients in SATURATION_CLIENTS[-1:] if quick else SATURATION_CLIENTS:
        requests = 10**6  # stopped by the clock
        run = asyncio.run(load.run_load(url, texts, clients, 1, requests, seconds))
        rates.append(run.docs_per_second)
    return max(rates)


def server_rss_mb(server: Server) -> float:
    """Resident memory of the server and every process below it, in MB."""
    total = 0.0
    for pid in [server.pid, *server.descendants()]:
        memory = memory_mb(pid)
        total += memory["rss_mb"] if memory else 0.0
    return round(total, 1)


def point_row(
    target: Target, case: str, tally: Tally, offered: str, rss: tuple[float, float]
) -> Row:
    refusals = len(tally.refused_s)
    figures: dict[str, float | int | str] = {
        "offered": offered,
        "answered": tally.answered,
        "200": tally.statuses["200"],
        "429": tally.statuses["429"],
        "503": tally.statuses["503"],
        "other": tally.other,
        "no_answer": tally.statuses["none"],
        "refusal_p50_ms": _ms(tally.refused_s, 0.5),
        "refusal_p99_ms": _ms(tally.refused_s, 0.99),
        "accepted_p50_ms": _ms(tally.accepted_s, 0.5),
        "accepted_p99_ms": _ms(tally.accepted_s, 0.99),
        "missing_retry_after": tally.missing_retry_after,
        "rss_before_mb": rss[0],
        "rss_after_mb": rss[1],
    }
    if tally.generator_lag_s:  # closed loop: how far the load generator's own loop fell behind
        figures["generator_lag_p99_ms"] = _ms(tally.generator_lag_s, 0.99)
    problems = []
    if tally.statuses["none"]:
        problems.append(f"{tally.statuses['none']} unanswered ({dict(tally.errors)})")
    if tally.other:
        problems.append(f"{tally.other} answers neither 200 nor 429/503 ({dict(tally.codes)})")
    if tally.missing_retry_after:
        problems.append(f"{tally.missing_retry_after} refusals without Retry-After")
    if refusals and _ms(tally.refused_s, 0.99) > REFUSAL_P99_MS:
        problems.append(f"refusal p99 over {REFUSAL_P99_MS:g} ms")
    codes = ", ".join(f"{code} {n}" for code, n in tally.codes.most_common())
    outcome = f"{tally.answered} answered: 200 x{tally.statuses['200']}, refused x{refusals}"
    outcome += f" ({codes})" if codes else ""
    if problems:
        outcome += " -- " + "; ".join(problems)
    return Row(PART, target.name, case, outcome, figures, ok=not problems)


def overload(server: Server, target: Target, quick: bool) -> list[Row]:
    texts = ncbi_abstracts()
    seconds = SECONDS[1 if quick else 0]
    rate = capacity(server.url, texts, seconds, quick)
    rss_start = server_rss_mb(server)  # warm: after the capacity runs
    admitted = MAX_CONCURRENT * target.workers
    rows = [
        Row(
            PART,
            target.name,
            "capacity: closed loop at saturation, 1 abstract per request",
            f"{rate:.1f} abstracts/s",
            {"abstracts_per_s": round(rate, 2), "rss_mb": rss_start},
        )
    ]
    for factor in FACTORS if not quick else FACTORS[-1:]:
        clients = factor * admitted
        before = server_rss_mb(server)
        tally = asyncio.run(closed_loop(server.url, texts, clients, seconds))
        case = f"closed loop, {clients} clients ({factor}x the {admitted} admitted), no back-off"
        rows.append(
            point_row(target, case, tally, f"{clients} clients", (before, server_rss_mb(server)))
        )
        before = server_rss_mb(server)
        tally = asyncio.run(open_loop(server.url, texts, factor * rate, seconds))
        case = f"open loop at {factor}x capacity ({factor * rate:.1f} abstracts/s)"
        rows.append(
            point_row(
                target, case, tally, f"{factor * rate:.1f}/s", (before, server_rss_mb(server))
            )
        )
    rss_end = server_rss_mb(server)
    growth = rss_end / rss_start - 1 if rss_start else 0.0
    rows.append(
        Row(
            PART,
            target.name,
            "server memory over the overload runs (server and its children)",
            f"RSS {rss_start} -> {rss_end} MB ({100 * growth:+.1f}%; bound "
            f"+{100 * RSS_GROWTH_BOUND:g}%)",
            {
                "rss_start_mb": rss_start,
                "rss_end_mb": rss_end,
                "growth_pct": round(100 * growth, 1),
            },
            ok=growth < RSS_GROWTH_BOUND,
        )
    )
    return rows


def run(target: Target, quick: bool) -> list[Row]:
    with running(target, extra_env=SERVER_ENV) as server:
        return overload(server, target, quick)
