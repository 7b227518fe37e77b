"""Service throughput for a BioALBERT-base-sized model on this machine, per precision.

    python -m bench.core_path [--work build/bench] [--repeats 3]

Exports the checkpoint with `biotag export`, then for each CPU precision starts `biotag serve`
and runs 1 and 8 concurrent clients (one NCBI abstract per request); then, in the same run,
the transformers pipeline (batch 1 and 8) on the same checkpoint and abstracts. Prints medians
over repeats, the service/pipeline ratios, and writes bench/results/core_path.json. Numbers
only: nothing here passes or fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import typer

from bench.abstracts import ncbi_abstracts
from bench.albert_base import build_albert_base
from bench.baselines import pipeline_abstracts_per_s
from bench.load import median_run, run_load

RESULTS = Path(__file__).resolve().parent / "results"


def serve(models_dir: Path, port: int, precision: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BIOTAG_CPU_PRECISION": precision, "BIOTAG_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "biotag.cli", "serve", "--models-dir", str(models_dir)]
    process = subprocess.Popen([*command, "--port", str(port)], env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit("the service did not become ready")


def main(work: Path = Path("build/bench"), repeats: int = 3, port: int = 8765) -> None:
    checkpoint = build_albert_base(work / "albert-base-checkpoint")
    models_dir = work / "models"
    bundle = models_dir / "albert-base"
    if not (bundle / "bundle.json").is_file():
        subprocess.run(
            [sys.executable, "-m", "biotag.cli", "export", str(checkpoint), str(bundle)],
            check=False,
        )
    manifest = json.loads((bundle / "bundle.json").read_text())
    texts = ncbi_abstracts()
    report: dict[str, object] = {
        "fusion": manifest["fusion"],
        "graphs": {
            p: {"MB": round(g["bytes"] / 1e6, 1), "parity": g["parity"]}
            for p, g in manifest["graphs"].items()
        },
        "runs": {},
    }
    for precision in [p for p in ("fp32", "int8") if p in manifest["graphs"]]:
        process = serve(models_dir, port, precision)
        try:
            url = f"http://127.0.0.1:{port}"
            asyncio.run(run_load(url, texts, 2, 1, 4))  # warm the path
            for clients, requests in ((1, 16), (8, 48)):
                summary = median_run(url, texts, clients, requests, repeats)
                report["runs"][f"{precision}/c{clients}"] = summary  # type: ignore[index]
                print(precision, summary, flush=True)
        finally:
            process.terminate()
            process.wait(30)
    baseline = {
        f"pipeline_bs{size}": round(pipeline_abstracts_per_s(checkpoint, texts[:24], size), 2)
        for size in (1, 8)
    }
    best = max(baseline.values())
    report["baseline"] = baseline
    report["ratio_vs_best_pipeline"] = {
        name: round(run["abstracts_per_s"] / best, 2)  # type: ignore[index]
        for name, run in report["runs"].items()  # type: ignore[union-attr]
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "core_path.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    typer.run(main)
