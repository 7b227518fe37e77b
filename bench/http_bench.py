"""`python -m biotag.cli serve` under closed-loop HTTP load: throughput, latency, batching."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import load
from bench.gpu.gpu_monitor import GpuSampler
from bench.repo import REPO, child_env

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
COUNTERS = (
    "biotag_tokens_total",
    "biotag_documents_total",
    "biotag_batch_size_sum",
    "biotag_batch_size_count",
    "biotag_batch_tokens_sum",
    "biotag_batch_padding_ratio_sum",
    "biotag_batch_padding_ratio_count",
    "biotag_inference_duration_seconds_sum",
    "biotag_inference_duration_seconds_count",
    "biotag_queue_wait_seconds_sum",
    "biotag_queue_wait_seconds_count",
    "biotag_rejections_total",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(url: str) -> dict[str, float]:
    """Each metric summed over its label sets, plus non-2xx HTTP answers."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    totals: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match.groups()
        try:
            number = float(value)
        except ValueError:
            continue
        totals[name] = totals.get(name, 0.0) + number
        if name == "biotag_http_requests_total" and labels and 'status="2' not in labels:
            totals["http_not_2xx"] = totals.get("http_not_2xx", 0.0) + number
    return totals


@contextlib.contextmanager
def serve(
    models_dir: Path,
    device: str,
    precision: str,
    log_file: Path,
    ready_timeout_s: float,
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    wait_for_ready: bool = True,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``wait_for_ready`` False: yield once /healthz answers (a server that is meant never to be
    ready, e.g. with a broken bundle, can be watched too)."""
    port = free_port()
    env = child_env(
        {
            "BIOTAG_WORKERS": str(workers),
            "BIOTAG_EXECUTION_PROVIDER": device,
            "BIOTAG_CUDA_PRECISION": precision if device == "cuda" else "fp16",
            "BIOTAG_CPU_PRECISION": precision if device == "cpu" else "fp32",
            "BIOTAG_LOG_LEVEL": "warning",
            # 128 clients x 16 abstracts must queue, not be refused
            "BIOTAG_MAX_QUEUE_WINDOWS": "16384",
        }
        | (extra_env or {})
    )
    command = [sys.executable, "-m", "biotag.cli", "serve", "--models-dir", str(models_dir)]
    with log_file.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--port", str(port)], cwd=REPO, env=env, stdout=sink, stderr=sink
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited {process.returncode}: {_tail(log_file)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve not ready in {ready_timeout_s} s: {_tail(log_file)}")
            try:
                answer = httpx.get(f"{url}/{'readyz' if wait_for_ready else 'healthz'}", timeout=2)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code == 200 and not wait_for_ready:
                break
            if answer is not None and answer.status_code == 200:
                # with several workers /readyz answers for one; biotag_ready is their minimum
                if scrape(url).get("biotag_ready"):
                    break
            elif answer is not None and "still loading" not in answer.text:
                # a bundle failed to load (e.g. no CUDA provider): it will never be ready
                raise RuntimeError(f"serve not ready: {answer.text[:1500]}")
            time.sleep(0.5)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _tail(path: Path, chars: int = 2500) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-chars:]


def memory_mb(pid: int) -> dict[str, float] | None:
    """Resident memory now and at its peak (VmRSS, VmHWM) of a process, in MB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        name: round(int(fields[key].split()[0]) / 1024, 1)
        for name, key in (("rss_mb", "VmRSS"), ("peak_rss_mb", "VmHWM"))
        if key in fields
    }


def _cpu_seconds(pid: int) -> float | None:
    """CPU time of a process and its live children (uvicorn's worker processes)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return own + sum(_cpu_seconds(int(child)) or 0.0 for child in children)


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(
    url: str,
    server_pid: int,
    texts: list[str],
    clients: int,
    docs_per_request: int,
    requests: int,
    sampler: GpuSampler | None,
    timeout_s: float,
    rate: float | None = None,
    duration_s: float | None = None,
) -> dict[str, Any]:
    """Closed loop with ``clients`` clients (up to ``requests``, for at most ``duration_s``),
    or open loop at ``rate`` abstracts/s if given."""
    before = scrape(url)
    server_cpu = _cpu_seconds(server_pid)
    own_cpu = _own_cpu_seconds()
    began = time.monotonic()
    if rate is None:
        load_run = load.run_load(url, texts, clients, docs_per_request, requests, duration_s)
    else:
        load_run = load.run_open_loop(url, texts, rate, docs_per_request, requests)
    run = asyncio.run(asyncio.wait_for(load_run, timeout_s))
    ended = time.monotonic()
    after = scrape(url)
    delta = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}
    wall = ended - began

    def per(numerator: str, denominator: str, scale: float = 1.0) -> float | None:
        count = delta.get(denominator, 0.0)
        return round(scale * delta.get(numerator, 0.0) / count, 4) if count else None

    padded = delta.get("biotag_batch_tokens_sum", 0.0)
    result: dict[str, Any] = run.summary() | {
        "requests": run.requests,
        "documents": run.documents,
        "seconds": round(run.seconds, 2),
        "tokens_per_s": round(delta.get("biotag_tokens_total", 0.0) / run.seconds),
        "batches": int(delta.get("biotag_batch_size_count", 0.0)),
        "mean_batch_size": per("biotag_batch_size_sum", "biotag_batch_size_count"),
        "mean_padding_ratio": per(
            "biotag_batch_padding_ratio_sum", "biotag_batch_padding_ratio_count"
        ),
        "padding_share_of_tokens": (
            round(1 - delta.get("biotag_tokens_total", 0.0) / padded, 4) if padded else None
        ),
        "mean_inference_ms": per(
            "biotag_inference_duration_seconds_sum", "biotag_inference_duration_seconds_count", 1000
        ),
        "mean_queue_wait_ms": per(
            "biotag_queue_wait_seconds_sum", "biotag_queue_wait_seconds_count", 1000
        ),
        "inference_busy_share": round(
            delta.get("biotag_inference_duration_seconds_sum", 0.0) / run.seconds, 3
        ),
        "rejections": int(delta.get("biotag_rejections_total", 0.0)),
        "http_not_2xx": int(delta.get("http_not_2xx", 0.0)),
        "client_cpu_share": round((_own_cpu_seconds() - own_cpu) / wall, 2),
        "gpu": sampler.window(began, ended) if sampler else None,
    }
    server_after = _cpu_seconds(server_pid)
    if server_cpu is not None and server_after is not None:
        result["server_cpu_share"] = round((server_after - server_cpu) / wall, 2)
    return result


def benchmark(
    models_dir: Path,
    device: str,
    device_id: int,
    precision: str,
    texts: list[str],
    grid: list[tuple[int, int]],
    seconds_per_point: float,
    work: Path,
    remaining: Callable[[], float],
    log: Callable[[str], None],
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
    half_peak: bool = False,
) -> dict[str, Any]:
    """Every (clients, abstracts per request) point, each sized by a pilot run at that point."""
    result: dict[str, Any] = {
        "precision": precision,
        "device": device,
        "workers": workers,
        "extra_env": extra_env or {},
        "points": {},
    }
    sampler = GpuSampler(device_id, enabled=device == "cuda")
    log_file = work / f"serve-{device}-{precision}-w{workers}.log"
    try:
        with serve(models_dir, device, precision, log_file, 240, workers, extra_env) as (
            url,
            proc,
        ):
            result["models"] = httpx.get(f"{url}/models", timeout=30).json()
            log(f"serve ({precision}, {workers} workers) ready at {url}")
            result["warm_up"] = measure(url, proc.pid, texts, 8, 4, 16, sampler, 120)
            timeout = max(30.0, 4 * seconds_per_point + 20)
            for clients, per_request in grid:
                key = f"c{clients}_d{per_request}"
                if remaining() < 2 * seconds_per_point + 10:
                    result["points"][key] = {"status": "skipped: out of time"}
                    log(f"http {key}: skipped (out of time)")
                    continue
                try:
                    # a short pilot at this very point warms its shapes and sizes the real run
                    pilot = measure(
                        url, proc.pid, texts, clients, per_request, max(clients, 8), sampler, 60
                    )
                    rate = max(float(pilot["abstracts_per_s"]), 1.0)
                    # the pilot runs cold and short: room for 4x its rate, stopped by the clock
                    wanted = math.ceil(4 * seconds_per_point * rate / per_request)
                    requests = max(wanted, 2 * clients, 8)
                    point = measure(
                        url,
                        proc.pid,
                        texts,
                        clients,
                        per_request,
                        requests,
                        sampler,
                        timeout,
                        duration_s=seconds_per_point,
                    )
                    point["pilot_abstracts_per_s"] = pilot["abstracts_per_s"]
                except Exception as exc:  # one point failing keeps the others
                    result["points"][key] = {"status": f"error: {type(exc).__name__}: {exc}"}
                    log(f"http {key}: ERROR {exc!r}")
                    continue
                result["points"][key] = point
                _log_point(log, key, point)
            if half_peak:
                result["half_peak"] = _half_peak(
                    url, proc.pid, texts, result["points"], sampler, seconds_per_point, remaining
                )
                if "abstracts_per_s" in result["half_peak"]:
                    _log_point(log, "half_peak (open loop)", result["half_peak"])
    finally:
        sampler.stop()
        result["serve_log_tail"] = _tail(log_file, 1500) if log_file.exists() else ""
    return result


def median_point(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The repeat with the median throughput, with every repeat's throughput."""
    middle = statistics.median(p["abstracts_per_s"] for p in points)
    chosen = min(points, key=lambda p: abs(p["abstracts_per_s"] - middle))
    return chosen | {"repeats": [p["abstracts_per_s"] for p in points]}


def _log_point(log: Callable[[str], None], key: str, point: dict[str, Any]) -> None:
    gpu = point["gpu"] or {}
    log(
        f"http {key}: {point['abstracts_per_s']} abstracts/s, "
        f"{point['tokens_per_s']} tokens/s, p50 {point['p50_ms']} ms, "
        f"p99 {point['p99_ms']} ms, batch {point['mean_batch_size']}, "
        f"GPU {gpu.get('util_mean_pct', '-')}%"
    )


def _half_peak(
    url: str,
    pid: int,
    texts: list[str],
    points: dict[str, Any],
    sampler: GpuSampler,
    seconds: float,
    remaining: Callable[[], float],
) -> dict[str, Any]:
    """Open-loop latency at half the best closed-loop rate with 16 abstracts per request."""
    rates = [
        p["abstracts_per_s"] for k, p in points.items() if k.endswith("_d16") and "p50_ms" in p
    ]
    if not rates or remaining() < seconds + 15:
        return {"status": "skipped: no 16-abstract point or out of time"}
    rate = max(rates) / 2
    requests = max(16, math.ceil(2 * seconds * rate / 16))
    point = measure(url, pid, texts, 0, 16, requests, sampler, 4 * seconds + 30, rate=rate)
    return point | {"offered_abstracts_per_s": round(rate, 1)}
