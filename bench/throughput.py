"""HTTP throughput of whatever bundles a models folder holds (default: the repo's models/).

    python -m bench.throughput [--models-dir models] [--repeats 3]

Starts `biotag serve`, reports time to ready, then abstracts/s and latency at 1 and 8
concurrent clients (one NCBI abstract per request, every served model at once).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import typer

from bench.abstracts import ncbi_abstracts
from bench.core_path import RESULTS, serve
from bench.load import median_run, run_load


def main(models_dir: Path = Path("models"), repeats: int = 3, port: int = 8766) -> None:
    started = time.perf_counter()
    process = serve(models_dir, port, "fp32")
    ready_s = time.perf_counter() - started
    texts = ncbi_abstracts()
    report: dict[str, object] = {"models_dir": str(models_dir), "ready_s": round(ready_s, 1)}
    try:
        url = f"http://127.0.0.1:{port}"
        asyncio.run(run_load(url, texts, 2, 1, 8))
        for clients, requests in ((1, 40), (8, 160)):
            report[f"c{clients}"] = median_run(url, texts, clients, requests, repeats)
            print(clients, report[f"c{clients}"], flush=True)
    finally:
        process.terminate()
        process.wait(30)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "throughput.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    typer.run(main)
