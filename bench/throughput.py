"""HTTP throughput of whatever bundles a models folder holds (default: the repo's models/), and
optionally of a baseline folder in the same run.

    python -m bench.throughput [--models-dir models] [--repeats 3]
    python -m bench.throughput --models-dir build/candidate --baseline models --rounds 3

Starts `biotag serve` (int8 on the CPU, all cores), reports time to ready, then abstracts/s and
latency at 1 and 8 concurrent clients (one NCBI abstract per request, every served model at
once), the median of ``repeats`` runs each. With ``--baseline`` the two folders take turns,
``rounds`` fresh servers each (baseline first), and the report gives each folder's medians over
its rounds and their ratios: on a shared machine only a ratio measured in one run means much.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from bench import http_bench
from bench.abstracts import ncbi_abstracts
from bench.core_path import RESULTS
from bench.machine import cpu, record, summary

LOADS = ((1, 40), (8, 160))  # (concurrent clients, requests per run)


def one_round(models_dir: Path, texts: list[str], repeats: int) -> dict[str, Any]:
    """A fresh server on ``models_dir``: its time to ready and the median run of each load."""
    log = Path("build") / "throughput-serve.log"
    log.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    with http_bench.serve(models_dir, "cpu", "int8", log, 300) as (url, proc):
        report: dict[str, Any] = {"ready_s": round(time.perf_counter() - started, 1)}
        http_bench.measure(url, proc.pid, texts, 2, 1, 8, None, 300)  # warm the path
        for clients, requests in LOADS:
            runs = [
                http_bench.measure(url, proc.pid, texts, clients, 1, requests, None, 600)
                for _ in range(repeats)
            ]
            report[f"c{clients}"] = http_bench.median_point(runs)
            print(f"{models_dir}: {clients} client(s)", report[f"c{clients}"]["abstracts_per_s"])
    return report


def medians(rounds: list[dict[str, Any]]) -> dict[str, float]:
    """Per figure, the median over rounds: ready time, abstracts/s and p50 at each load."""
    figures: dict[str, float] = {"ready_s": statistics.median(r["ready_s"] for r in rounds)}
    for clients, _ in LOADS:
        for key in ("abstracts_per_s", "p50_ms", "p99_ms"):
            figures[f"c{clients}_{key}"] = statistics.median(r[f"c{clients}"][key] for r in rounds)
    return figures


def main(
    models_dir: Path = Path("models"),
    repeats: int = 3,
    baseline: Annotated[
        Path | None, typer.Option(help="a models folder to measure in turn with --models-dir")
    ] = None,
    rounds: Annotated[int, typer.Option(min=1, help="servers per folder (with --baseline)")] = 3,
) -> None:
    machine = cpu()
    print(summary(machine), flush=True)
    texts = ncbi_abstracts()
    report: dict[str, Any] = {
        "models_dir": str(models_dir),
        "machine": record(machine),
    }
    if baseline is None:
        report |= one_round(models_dir, texts, repeats)
    else:
        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "candidate": []}
        for _ in range(rounds):
            runs["baseline"].append(one_round(baseline, texts, repeats))
            runs["candidate"].append(one_round(models_dir, texts, repeats))
        before, after = medians(runs["baseline"]), medians(runs["candidate"])
        report |= {
            "baseline": str(baseline),
            "rounds": runs,
            "median_baseline": before,
            "median_candidate": after,
            "ratio_candidate_to_baseline": {
                key: round(after[key] / before[key], 3) for key in before if before[key]
            },
        }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(report, indent=2))
    shown = {key: value for key, value in report.items() if key != "rounds"}
    print(json.dumps(shown, indent=2))


if __name__ == "__main__":
    typer.run(main)
