"""HTTP throughput of whatever bundles a models folder holds (default: the repo's models/).

    python -m bench.throughput [--models-dir models] [--repeats 3]

Starts `biotag serve` (int8 on the CPU, all cores), reports time to ready, then abstracts/s and
latency at 1 and 8 concurrent clients (one NCBI abstract per request, every served model at
once), the median of ``repeats`` runs each.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

from bench import http_bench
from bench.abstracts import ncbi_abstracts
from bench.core_path import RESULTS


def main(models_dir: Path = Path("models"), repeats: int = 3) -> None:
    texts = ncbi_abstracts()
    log = Path("build") / "throughput-serve.log"
    log.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    with http_bench.serve(models_dir, "cpu", "int8", log, 300) as (url, proc):
        report: dict[str, Any] = {
            "models_dir": str(models_dir),
            "ready_s": round(time.perf_counter() - started, 1),
        }
        http_bench.measure(url, proc.pid, texts, 2, 1, 8, None, 300)  # warm the path
        for clients, requests in ((1, 40), (8, 160)):
            runs = [
                http_bench.measure(url, proc.pid, texts, clients, 1, requests, None, 600)
                for _ in range(repeats)
            ]
            report[f"c{clients}"] = http_bench.median_point(runs)
            print(clients, report[f"c{clients}"]["abstracts_per_s"], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    typer.run(main)
