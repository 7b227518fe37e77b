"""Faults: a worker or the shared engine killed mid-request, a client that leaves mid-request,
broken bundles beside a good one, a full disk for the Prometheus multiprocess files. Each row
says what the clients saw, what /readyz and /metrics said, and how the service recovered."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.reliability import clients, storage_faults
from bench.reliability.clients import Attempt
from bench.reliability.report import Figure, Row
from bench.reliability.servers import WORK, Server, Target, running

PART = "faults"
RECOVERY_TIMEOUT_S = 120.0  # a replacement worker loads its bundle (ALBERT-base: slowly)
EXIT_TIMEOUT_S = 90.0


def run(target: Target, quick: bool, work: Path = WORK) -> list[Row]:
    rows = [client_disconnects(target, quick, work)]
    if target.workers >= 2:
        rows.append(worker_killed(target, quick, work))
        if target.env.get("BIOTAG_SHARED_ENGINE", "true").lower() != "false":
            rows.append(engine_killed(target, quick, work))
        rows.append(storage_faults.metrics_disk_full(target, quick, work))
    rows.append(storage_faults.broken_bundles(target, work))
    return rows


def _body(documents: int) -> Callable[[int], object]:
    return lambda index: {"documents": clients.documents(documents, offset=index)}


def _settled(attempts: list[Attempt], moment: float) -> tuple[list[Attempt], list[Attempt]]:
    """The requests in flight at ``moment``, and those sent after it."""
    return clients.in_flight_at(attempts, moment), [a for a in attempts if a.began > moment]


def worker_killed(target: Target, quick: bool, work: Path = WORK) -> Row:
    """kill -9 one of the workers while 4 clients keep it busy; the supervisor starts another."""
    case = "kill -9 a worker mid-request"
    load_s = 4.0 if quick else 10.0
    with running(target, work) as server:
        with clients.closed_loop(server.url, 4, _body(2)) as attempts:
            time.sleep(2.0)
            before = set(server.worker_pids())
            victim = min(before)
            killed_at = time.monotonic()
            os.kill(victim, signal.SIGKILL)

            def replaced() -> bool:
                now = set(server.worker_pids())
                return len(now) == target.workers and victim not in now and now != before

            new_worker_s = clients.wait_until(replaced, RECOVERY_TIMEOUT_S)
            ready_s = clients.wait_until(
                lambda: clients.metrics(server.url).get("biotag_ready") == 1.0,
                RECOVERY_TIMEOUT_S,
            )
            time.sleep(load_s)
        # idle now: a queue depth that stays above 0 is the dead worker's stale gauge
        clients.wait_until(lambda: clients.metrics(server.url).get("biotag_queue_depth") == 0, 10)
        fresh = _fresh_connections(server.url, 8)  # the kernel spreads them over both workers
        readyz = clients.status_of(server.url, "/readyz")
        depth = clients.metrics(server.url).get("biotag_queue_depth", -1.0)
    in_flight, later = _settled(attempts, killed_at)
    failed_later = [a for a in later if a.outcome != "200"]
    figures: dict[str, Figure] = {
        "in_flight_at_kill": len(in_flight),
        "new_worker_s": new_worker_s,
        "ready_again_s": ready_s if ready_s < 0 else round(new_worker_s + ready_s, 3),
        "requests_after_kill": len(later),
        "failed_after_kill": len(failed_later),
        "max_latency_after_kill_s": round(max((a.ended - a.began for a in later), default=0), 2),
        "fresh_connections_200": sum(a.outcome == "200" for a in fresh),
        "readyz_after": readyz,
        "queue_depth_after": depth,
    }
    ok = (
        new_worker_s >= 0
        and ready_s >= 0
        and readyz == 200
        and not failed_later
        and all(a.outcome == "200" for a in fresh)
    )
    outcome = (
        f"in flight at the kill: {clients.tally(in_flight)}; sent after: {clients.tally(later)}; "
        f"8 new connections once recovered: {clients.tally(fresh)}"
    )
    return Row(PART, target.name, case, outcome, figures, ok)


def _fresh_connections(url: str, count: int) -> list[Attempt]:
    """One small /tag each on its own new connection."""
    attempts = []
    for index in range(count):
        with httpx.Client(base_url=url, timeout=120) as http:
            body = {"documents": clients.documents(1, offset=index)}
            attempts.append(clients.attempt(http, index, "/tag", body))
    return attempts


def engine_killed(target: Target, quick: bool, work: Path = WORK) -> Row:
    """kill -9 the shared engine: in-flight requests get 503 not_ready, the server exits 1."""
    case = "kill -9 the shared engine process mid-request"
    with running(target, work) as server, clients.closed_loop(server.url, 4, _body(16)) as attempts:
        time.sleep(2.0)
        engine = server.engine_pid()
        if engine is None:
            return Row(PART, target.name, case, "no shared engine process found", {}, False)
        killed_at = time.monotonic()
        os.kill(engine, signal.SIGKILL)
        try:
            status = server.process.wait(EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # the row says it did not exit
            status = None
        exit_s = round(time.monotonic() - killed_at, 3)
        time.sleep(0.5)  # the clients see the refused connections
    in_flight, later = _settled(attempts, killed_at)
    in_flight_tally = clients.tally(in_flight)
    figures: dict[str, Figure] = {
        "in_flight_at_kill": len(in_flight),
        "exit_status": "none (still running)" if status is None else status,
        "exit_s": exit_s,
        "answered_503_not_ready": sum(a.outcome == "503 not_ready" for a in in_flight + later),
        "answered_500": sum(a.outcome.startswith("500") for a in attempts),
    }
    ok = (
        status == 1
        and any(a.outcome == "503 not_ready" for a in in_flight)
        # a 200 is a request whose windows had all come back before the kill landed: the
        # client's clock cannot tell it from one still waiting, and its answer is complete
        and all(a.outcome in {"503 not_ready", "200"} for a in in_flight)
        and not figures["answered_500"]
    )
    outcome = (
        f"in flight at the kill: {in_flight_tally}; sent after: {clients.tally(later)}; "
        f"server exited {status} after {exit_s} s"
    )
    return Row(PART, target.name, case, outcome, figures, ok)


def _raw_request(server: Server, body: bytes) -> socket.socket:
    """POST /tag sent whole on a plain socket (so the test can hang up without reading)."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    head = (
        f"POST /tag HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body)
    return sock


def _work_counters(url: str) -> dict[str, float]:
    figures = clients.metrics(url)
    return {
        "tokens": figures.get("biotag_tokens_total", 0.0),
        "batches": figures.get("biotag_batch_size_count", 0.0),
    }


def _delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before.get(key, 0.0) for key in after}


def _quiet_counters(url: str, timeout_s: float) -> dict[str, float]:
    """The work counters once the queue is empty and they stopped moving for a second."""
    last = _work_counters(url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = _work_counters(url)
        if now == last and clients.metrics(url).get("biotag_queue_depth", 0.0) == 0.0:
            return now
        last = now
    return last


def client_disconnects(target: Target, quick: bool, work: Path = WORK) -> Row:
    """A 64-document request whose client hangs up a moment after sending it: the windows not
    yet run are dropped (fewer tokens and batches than the same request answered)."""
    case = "client disconnects mid-request (64 documents)"
    body = httpx.Request("POST", "/", json={"documents": clients.documents(64)}).content
    with running(target, work) as server:
        url = server.url
        with httpx.Client(base_url=url, timeout=300) as http:  # warm, then the full cost
            http.post("/tag", json={"documents": clients.documents(4)}).raise_for_status()
            before = _quiet_counters(url, 30)
            began = time.monotonic()
            http.post("/tag", content=body, headers={"Content-Type": "application/json"})
            full_s = time.monotonic() - began
        full = _delta(_quiet_counters(url, 30), before)
        before = _work_counters(url)
        sock = _raw_request(server, body)
        time.sleep(max(0.05, full_s / 10))
        sock.close()
        gone_at = time.monotonic()
        settled = _quiet_counters(url, 60)
        settle_s = round(time.monotonic() - gone_at, 2)
        cut = _delta(settled, before)
        depth = clients.metrics(url).get("biotag_queue_depth", -1.0)
        readyz = clients.status_of(url, "/readyz")
        with httpx.Client(base_url=url, timeout=120) as http:
            following = clients.attempt(http, 0, "/tag", {"documents": clients.documents(2)})
    share = cut["tokens"] / full["tokens"] if full["tokens"] else 1.0
    figures: dict[str, Figure] = {
        "full_request_s": round(full_s, 2),
        "hung_up_after_s": round(max(0.05, full_s / 10), 2),
        "tokens_full": int(full["tokens"]),
        "tokens_after_hang_up": int(cut["tokens"]),
        "batches_full": int(full["batches"]),
        "batches_after_hang_up": int(cut["batches"]),
        "tokens_run_share": round(share, 3),
        "settled_s": settle_s,
        "queue_depth_after": depth,
        "readyz_after": readyz,
    }
    ok = depth == 0.0 and share < 0.8 and readyz == 200 and following.outcome == "200"
    outcome = (
        f"{share:.0%} of the request's tokens ran after the hang-up; queue depth {depth:g}; "
        f"next request {following.outcome}"
    )
    return Row(PART, target.name, case, outcome, figures, ok)
