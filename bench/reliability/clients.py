"""Clients for the fault, drain and soak parts: closed-loop threads that record what every
request got (status and error code, or the transport error), documents of known sizes, and
the server's metrics."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from bench import http_bench
from bench.abstracts import ncbi_abstracts

Documents = list[dict[str, str]]
TRANSPORT_PAUSE_S = 0.05  # after a transport error: no busy loop against a server that is gone


@dataclass(frozen=True)
class Attempt:
    """One request: when it was sent and answered (time.monotonic) and what came back."""

    client: int
    began: float
    ended: float
    outcome: str  # "200", "503 not_ready", or a transport error's class name

    @property
    def answered(self) -> bool:
        return self.outcome[:1].isdigit()


@functools.cache
def abstracts() -> list[str]:
    return ncbi_abstracts()


def documents(count: int, offset: int = 0) -> Documents:
    texts = abstracts()
    return [{"id": str(i), "text": texts[(offset + i) % len(texts)]} for i in range(count)]


def outcome_of(response: httpx.Response) -> str:
    """The status, with the error envelope's code when there is one."""
    if response.status_code < 400:
        return str(response.status_code)
    try:
        code = response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        code = "no-envelope"
    return f"{response.status_code} {code}"


def attempt(http: httpx.Client, client: int, path: str, body: object | None) -> Attempt:
    began = time.monotonic()
    try:
        response = http.post(path, json=body) if body is not None else http.get(path)
        outcome = outcome_of(response)
    except httpx.HTTPError as exc:
        outcome = type(exc).__name__
    return Attempt(client, began, time.monotonic(), outcome)


@contextlib.contextmanager
def closed_loop(
    url: str, clients: int, body_for: Callable[[int], object], timeout_s: float = 120.0
) -> Iterator[list[Attempt]]:
    """``clients`` threads, each on its own connection, POSTing /tag until the block ends; the
    list fills with every attempt (the threads finish their request in flight on exit)."""
    attempts: list[Attempt] = []
    stop = threading.Event()

    def loop(client: int) -> None:
        with httpx.Client(base_url=url, timeout=timeout_s) as http:
            sent = 0
            while not stop.is_set():
                record = attempt(http, client, "/tag", body_for(client * 1000 + sent))
                attempts.append(record)
                sent += 1
                if not record.answered:
                    time.sleep(TRANSPORT_PAUSE_S)

    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield attempts
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout_s + 5)


def tally(attempts: list[Attempt]) -> dict[str, int]:
    return tally_outcomes([a.outcome for a in attempts])


def tally_outcomes(outcomes: list[str]) -> dict[str, int]:
    return dict(Counter(outcomes))


def in_flight_at(attempts: list[Attempt], moment: float) -> list[Attempt]:
    return [a for a in attempts if a.began <= moment < a.ended]


def metrics(url: str) -> dict[str, float]:
    """Each metric summed over its labels; {} when /metrics does not answer."""
    try:
        return http_bench.scrape(url)
    except (httpx.HTTPError, ValueError):
        return {}


def wait_until(condition: Callable[[], bool], timeout_s: float, poll_s: float = 0.1) -> float:
    """Seconds until ``condition`` held, or -1.0 if it did not within ``timeout_s``."""
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if condition():
            return round(time.monotonic() - began, 3)
        time.sleep(poll_s)
    return -1.0


def status_of(url: str, path: str) -> int:
    """The status of a GET, 0 when nothing answers."""
    try:
        return httpx.get(f"{url}{path}", timeout=10).status_code
    except httpx.HTTPError:
        return 0
