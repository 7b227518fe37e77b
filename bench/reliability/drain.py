"""SIGTERM under load: every request in flight at the signal completes (200, within
BIOTAG_SHUTDOWN_TIMEOUT_S), a long 64-document request included; new connections are refused
or answered 503; `biotag serve` exits 0."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx

from bench.reliability import clients
from bench.reliability.clients import Attempt
from bench.reliability.report import Figure, Row
from bench.reliability.servers import WORK, Target, running

PART = "drain"
# generous: the box is shared, and the 64-document request queued behind the load must fit
# (ALBERT-base int8 tags ~1 abstract/s on 2 busy cores)
SHUTDOWN_TIMEOUT_S = {"default": 90.0, "albert-base": 300.0}
PROBE_INTERVAL_S = 0.1
LONG_DOCUMENTS = 64
# a new connection after the signal: refused, or answered 503 while the listener closes, or
# closed before any answer (RemoteProtocolError): one that reached the kernel's accept queue in
# the instant its listener closed; its request was never read, so it is refused by another name
REFUSED = ("ConnectError", "RemoteProtocolError", "503 not_ready")
# a signal reaches the workers of a supervisor a moment later: a connection accepted then is
# answered in full (200), never dropped; after this long every new connection is refused
SIGNAL_GRACE_S = 1.0


def _probe(url: str) -> str:
    """One request on a fresh connection."""
    try:
        return clients.outcome_of(httpx.get(f"{url}/healthz", timeout=2))
    except httpx.HTTPError as exc:
        return type(exc).__name__


def run(target: Target, quick: bool, work: Path = WORK) -> list[Row]:
    load_s = 3.0 if quick else 10.0
    timeout_s = SHUTDOWN_TIMEOUT_S.get(target.bundle, 300.0)
    env = {"BIOTAG_SHUTDOWN_TIMEOUT_S": str(timeout_s)}
    long: list[Attempt] = []
    probes: list[tuple[float, str]] = []
    with running(target, work, extra_env=env) as server:
        url = server.url

        def long_request() -> None:
            with httpx.Client(base_url=url, timeout=timeout_s + 60) as http:
                body = {"documents": clients.documents(LONG_DOCUMENTS, offset=500)}
                long.append(clients.attempt(http, -1, "/tag", body))

        with clients.closed_loop(url, 4, lambda i: {"documents": clients.documents(4, i)}) as load:
            time.sleep(load_s)
            long_thread = threading.Thread(target=long_request, daemon=True)
            long_thread.start()
            time.sleep(1.0)  # its body is read and its windows are queued
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            deadline = signalled + timeout_s + 30
            while server.process.poll() is None and time.monotonic() < deadline:
                probes.append((time.monotonic() - signalled, _probe(url)))
                time.sleep(PROBE_INTERVAL_S)
            status = server.process.poll()
            exit_s = round(time.monotonic() - signalled, 2)
        long_thread.join(timeout_s + 60)
    in_flight = clients.in_flight_at(load, signalled) + clients.in_flight_at(long, signalled)
    after = [a for a in load if a.began > signalled]
    return [
        _load_row(target, in_flight, after, probes, status, exit_s, signalled, timeout_s),
        _long_row(target, long, signalled, status, timeout_s),
    ]


def _load_row(
    target: Target,
    in_flight: list[Attempt],
    after: list[Attempt],
    probes: list[tuple[float, str]],
    status: int | None,
    exit_s: float,
    signalled: float,
    timeout_s: float,
) -> Row:
    drained_s = max((a.ended - signalled for a in in_flight), default=0.0)
    completed = [a for a in in_flight if a.outcome == "200"]
    probe_outcomes = [outcome for _, outcome in probes]
    answered = sum(outcome == "200" for outcome in probe_outcomes)
    dropped = sum(outcome not in (*REFUSED, "200") for outcome in probe_outcomes)
    late = sum(outcome not in REFUSED for at, outcome in probes if at >= SIGNAL_GRACE_S)
    figures: dict[str, Figure] = {
        "in_flight_at_signal": len(in_flight),
        "completed_200": len(completed),
        "drained_s": round(drained_s, 2),
        "exit_status": "none (still running)" if status is None else status,
        "exit_s": exit_s,
        "probes_after_signal": len(probes),
        "probes_answered_200": answered,
        "probes_dropped": dropped,
        f"probes_not_refused_after_{SIGNAL_GRACE_S:g}s": late,
        "first_refusal_s": round(next((t for t, outcome in probes if outcome in REFUSED), -1.0), 3),
    }
    ok = (
        len(completed) == len(in_flight)
        and drained_s <= timeout_s
        and status == 0
        and dropped == 0
        and late == 0
    )
    outcome = (
        f"in flight at SIGTERM: {clients.tally(in_flight)}; fresh connections after it: "
        f"{clients.tally_outcomes(probe_outcomes)}; load clients' next requests: "
        f"{clients.tally(after)}; exit {status} after {exit_s} s"
    )
    case = f"SIGTERM under closed-loop load (4 clients, BIOTAG_SHUTDOWN_TIMEOUT_S={timeout_s:g})"
    return Row(PART, target.name, case, outcome, figures, ok)


def _long_row(
    target: Target, long: list[Attempt], signalled: float, status: int | None, timeout_s: float
) -> Row:
    case = f"SIGTERM while a {LONG_DOCUMENTS}-document request is in flight"
    if not long:
        return Row(PART, target.name, case, "the request never returned", {}, False)
    request = long[0]
    figures: dict[str, Figure] = {
        "sent_before_signal_s": round(signalled - request.began, 2),
        "answered_after_signal_s": round(request.ended - signalled, 2),
        "latency_s": round(request.ended - request.began, 2),
    }
    ok = (
        request.began < signalled < request.ended
        and request.outcome == "200"
        and request.ended - signalled <= timeout_s
        and status == 0
    )
    outcome = f"{request.outcome} after {figures['latency_s']} s (exit {status})"
    return Row(PART, target.name, case, outcome, figures, ok)
