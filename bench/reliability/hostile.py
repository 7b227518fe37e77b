"""Hostile input: every case of the corpus (hostile_cases.py) against a live server, each
expected to get its documented status in bounded time, while a background probe sends a normal
abstract every 200 ms: its latency during the cases against a baseline measured just before."""

from __future__ import annotations

import http.client
import json
import statistics
import threading
import time
from dataclasses import dataclass, field

from bench.abstracts import ncbi_abstracts
from bench.reliability.contract import error_problem
from bench.reliability.hostile_cases import SERVER_ENV, Case, corpus
from bench.reliability.rawhttp import Answer
from bench.reliability.report import Row
from bench.reliability.servers import Server, Target, running

PART = "hostile"
PROBE_INTERVAL_S = 0.2
BASELINE_S = (15.0, 4.0)  # (full, quick)
# "nothing else slows down": the probe's p99 during the cheap cases stays under this bound
SLOWDOWN_FACTOR = 3.0
SLOWDOWN_ALLOWANCE_MS = 250.0


@dataclass
class Probe:
    """A normal abstract every PROBE_INTERVAL_S on one keep-alive connection, in a thread."""

    port: int
    text: str
    samples: list[tuple[float, float, int | None]] = field(default_factory=list)  # at, ms, status
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(120)

    def _loop(self) -> None:
        body = json.dumps({"documents": [{"id": "probe", "text": self.text}]}).encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        while not self._stop.is_set():
            began = time.monotonic()
            status: int | None
            try:
                connection.request("POST", "/tag", body, {"Content-Type": "application/json"})
                response = connection.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status = None
                connection.close()  # reconnects on the next request
            ended = time.monotonic()
            self.samples.append((began, 1000 * (ended - began), status))
            self._stop.wait(max(0.0, began + PROBE_INTERVAL_S - time.monotonic()))
        connection.close()

    def between(self, start: float, end: float) -> list[tuple[float, float, int | None]]:
        return [s for s in self.samples if start <= s[0] <= end]


def percentiles(milliseconds: list[float]) -> dict[str, float]:
    if not milliseconds:
        return {"p50_ms": -1.0, "p99_ms": -1.0}
    ordered = sorted(milliseconds)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return {"p50_ms": round(statistics.median(ordered), 1), "p99_ms": round(p99, 1)}


def judge(case: Case, answer: Answer) -> str | None:
    """What is wrong with ``answer`` for ``case``; None when it is as the contract says."""
    if answer.status is None:
        return f"no answer: {answer.error}"
    if answer.status not in case.expected:
        body = answer.body[:200].decode("utf-8", "replace")
        return f"{answer.status}, expected {sorted(case.expected)}: {body}"
    if answer.seconds > case.bound_s:
        return f"answered in {answer.seconds:.1f} s, over the {case.bound_s:g} s bound"
    if answer.status >= 400:
        return error_problem(answer.status, answer.headers, answer.body)
    if case.check is not None:
        return case.check(answer)
    return None


def _code(answer: Answer) -> str:
    try:
        return str(json.loads(answer.body)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return ""


@dataclass(frozen=True)
class Tried:
    case: Case
    answer: Answer
    problem: str | None
    began: float
    ended: float


def try_all(server: Server, quick: bool, cases: list[Case]) -> list[Tried]:
    tried: list[Tried] = []
    for case in cases:
        if quick and not case.quick:
            continue
        began = time.monotonic()
        answer = case.send(server.port)
        tried.append(Tried(case, answer, judge(case, answer), began, time.monotonic()))
    return tried


def _case_row(target: Target, tried: Tried, probe: Probe) -> Row:
    answer = tried.answer
    during = [ms for _, ms, _ in probe.between(tried.began, tried.ended)]
    code = _code(answer)
    outcome = answer.describe() + (f" {code}" if code else "")
    if answer.closed:
        outcome += ", connection closed"
    if tried.problem:
        outcome += f" -- {tried.problem}"
    figures: dict[str, float | int | str] = {
        "status": answer.status if answer.status is not None else "none",
        "seconds": round(answer.seconds, 2),
        "bound_s": tried.case.bound_s,
    }
    if during:
        figures["probe_p99_ms"] = percentiles(during)["p99_ms"]
    return Row(PART, target.name, tried.case.name, outcome, figures, tried.problem is None)


def probe_row(target: Target, probe: Probe, baseline_end: float, tried: list[Tried]) -> Row:
    baseline = percentiles([ms for at, ms, _ in probe.samples if at < baseline_end])
    cheap = [
        ms for t in tried if not t.case.expensive for _, ms, _ in probe.between(t.began, t.ended)
    ]
    everything = [ms for at, ms, _ in probe.samples if at >= baseline_end]
    failed = sum(status != 200 for at, _, status in probe.samples if at >= baseline_end)
    bound = max(SLOWDOWN_FACTOR * baseline["p99_ms"], baseline["p99_ms"] + SLOWDOWN_ALLOWANCE_MS)
    during = percentiles(cheap)
    figures: dict[str, float | int | str] = {
        "baseline_p50_ms": baseline["p50_ms"],
        "baseline_p99_ms": baseline["p99_ms"],
        "during_p50_ms": during["p50_ms"],
        "during_p99_ms": during["p99_ms"],
        "all_cases_p99_ms": percentiles(everything)["p99_ms"],
        "bound_p99_ms": round(bound, 1),
        "probes": len(everything),
        "probes_not_200": failed,
    }
    ok = failed == 0 and 0 <= during["p99_ms"] <= bound
    outcome = (
        f"p99 {during['p99_ms']} ms during the cheap cases vs {baseline['p99_ms']} ms before "
        f"(bound: max({SLOWDOWN_FACTOR:g}x, +{SLOWDOWN_ALLOWANCE_MS:g} ms)); "
        f"{failed} probes not 200"
    )
    case = f"a normal abstract every {1000 * PROBE_INTERVAL_S:g} ms meanwhile"
    return Row(PART, target.name, case, outcome, figures, ok)


def run(target: Target, quick: bool) -> list[Row]:
    with running(target, extra_env=SERVER_ENV) as server:
        probe = Probe(server.port, ncbi_abstracts()[0])
        probe.start()
        try:
            time.sleep(BASELINE_S[1 if quick else 0])
            baseline_end = time.monotonic()
            tried = try_all(server, quick, corpus(trained=target.bundle == "default"))
        finally:
            probe.stop()
        rows = [_case_row(target, t, probe) for t in tried]
        return [*rows, probe_row(target, probe, baseline_end, tried)]
