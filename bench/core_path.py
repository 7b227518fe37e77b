"""The service against hand-written baselines, BioALBERT-base-sized model, this CPU, one run.

    python -m bench.core_path [--repeats 3] [--quick]

1. Builds (or reuses) the checkpoint (`bench.albert_base`: ALBERT-base compute, SentencePiece
   trained on the NCBI abstracts) and exports it with `biotag export`.
2. Measures this CPU's matmul throughput through ONNX Runtime (fp32, int8): the model's
   matmul-bound tokens/s.
3. Serves the bundle with `biotag serve` per CPU precision and loads it over HTTP with closed-
   loop clients (1, 8, 32) x abstracts per request (1, 16): abstracts/s, tokens/s, latency
   percentiles, batch size and padding from /metrics, server memory after each repeat.
4. Baselines on the same abstracts and threads: the transformers pipeline (batch 1 and 8) and
   optimum's ONNX Runtime pipeline, fp32 and its own AVX-512 VNNI dynamic int8, in a separate
   virtual environment (optimum-onnx pins transformers 4.x).
5. Prints the table and the ratios; writes bench/results/core_path.json. Medians over repeats.
   Numbers only: nothing here passes or fails.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bench import http_bench, matmul_limits
from bench.abstracts import ncbi_abstracts
from bench.albert_base import build_albert_base
from bench.baselines import pipeline_abstracts_per_s
from bench.machine import cpu, record, summary

RESULTS = Path(__file__).resolve().parent / "results"
OPTIMUM_PINS = ("torch==2.13.0", "optimum-onnx[onnxruntime]==0.1.0")
GRIDS = {  # precision -> (clients, abstracts per request)
    "int8": ((1, 1), (8, 1), (32, 1), (1, 16), (8, 16), (32, 16)),
    "fp32": ((1, 1), (8, 1), (8, 16)),
}
QUICK_GRIDS = {"int8": ((1, 1), (8, 1), (8, 16)), "fp32": ((8, 1),)}
BASELINE_TEXTS = 48
console = Console()


def _export(checkpoint: Path, bundle: Path) -> dict[str, Any]:
    if not (bundle / "bundle.json").is_file():
        command = [sys.executable, "-m", "biotag.cli", "export", str(checkpoint), str(bundle)]
        subprocess.run(command, check=True)
    return json.loads((bundle / "bundle.json").read_text())


def _requests(clients: int, per_request: int, target_abstracts: int) -> int:
    return max(clients, 2, math.ceil(target_abstracts / per_request))


def _serve_grid(
    models_dir: Path,
    precision: str,
    texts: list[str],
    grid: tuple[tuple[int, int], ...],
    repeats: int,
    work: Path,
) -> dict[str, Any]:
    log = work / f"serve-{precision}.log"
    runs: dict[str, list[dict[str, Any]]] = {f"c{c}_d{d}": [] for c, d in grid}
    memory: list[dict[str, float] | None] = []
    with http_bench.serve(models_dir, "cpu", precision, log, 300) as (url, proc):
        memory.append(http_bench.memory_mb(proc.pid))
        http_bench.measure(url, proc.pid, texts, 2, 1, 4, None, 300)  # warm the path
        for repeat in range(repeats):
            for clients, per_request in grid:
                requests = _requests(clients, per_request, 48)
                point = http_bench.measure(
                    url, proc.pid, texts, clients, per_request, requests, None, 1200
                )
                runs[f"c{clients}_d{per_request}"].append(point)
                console.print(
                    f"{precision} repeat {repeat + 1} c{clients}_d{per_request}: "
                    f"{point['abstracts_per_s']} abstracts/s, p50 {point['p50_ms']} ms"
                )
            memory.append(http_bench.memory_mb(proc.pid))
    medians = {key: http_bench.median_point(points) for key, points in runs.items()}
    return {"points": medians, "memory_after_start_and_each_repeat": memory}


def _optimum_python(work: Path) -> Path:
    venv = work / "venv-optimum"
    python = venv / "bin" / "python"
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *OPTIMUM_PINS], check=True)
    return python


def _optimum(checkpoint: Path, texts: list[str], repeats: int, work: Path) -> dict[str, Any]:
    texts_file = work / "baseline-texts.json"
    texts_file.write_text(json.dumps(texts), encoding="utf-8")
    script = Path(__file__).resolve().parent / "optimum_baseline.py"
    command = [str(_optimum_python(work)), str(script), str(checkpoint), str(texts_file)]
    done = subprocess.run(
        [*command, str(work / "optimum"), "--repeats", str(repeats)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _pipelines(checkpoint: Path, texts: list[str], repeats: int) -> dict[str, float]:
    return {
        f"pipeline_bs{size}": round(
            statistics.median(
                pipeline_abstracts_per_s(checkpoint, texts, size) for _ in range(repeats)
            ),
            2,
        )
        for size in (1, 8)
    }


def _summary(report: dict[str, Any], ops_per_token: int) -> dict[str, Any]:
    int8 = report["service"]["int8"]["points"]
    baselines = report["baselines"]
    torch_best = max(baselines["transformers"].values())
    optimum_int8 = max(
        (v for k, v in baselines["optimum"].items() if k.startswith("optimum_int8")), default=None
    )
    at8 = int8["c8_d1"]["abstracts_per_s"]
    limits = report["matmul_limits"]
    summary: dict[str, Any] = {
        "int8_c8_d1_over_best_torch_pipeline": round(at8 / torch_best, 2),
        "int8_c1_p50_ms": int8["c1_d1"]["p50_ms"],
        "torch_pipeline_bs1_ms_per_abstract": round(
            1000 / baselines["transformers"]["pipeline_bs1"], 1
        ),
    }
    if optimum_int8:
        summary["int8_c8_d1_over_optimum_int8"] = round(at8 / optimum_int8, 2)
    for precision, key in (("int8", "int8_gop_per_s"), ("fp32", "fp32_gflop_per_s")):
        points = report["service"].get(precision, {}).get("points", {})
        best = max((p.get("tokens_per_s") or 0 for p in points.values()), default=0)
        bound = limits[key] * 1e9 / ops_per_token
        summary[f"{precision}_best_tokens_per_s"] = best
        summary[f"{precision}_share_of_matmul_bound"] = round(best / bound, 3)
    return summary


def _print(report: dict[str, Any]) -> None:
    table = Table(title="biotag vs baselines (abstracts/s)")
    for column in ("configuration", "abstracts/s", "tokens/s", "p50 ms", "p99 ms", "batch"):
        table.add_column(column)
    for precision, served in report["service"].items():
        for key, point in served["points"].items():
            table.add_row(
                f"biotag {precision} {key}",
                str(point["abstracts_per_s"]),
                str(point.get("tokens_per_s")),
                str(point["p50_ms"]),
                str(point["p99_ms"]),
                str(point.get("mean_batch_size")),
            )
    for group in report["baselines"].values():
        for name, rate in group.items():
            if isinstance(rate, float | int):
                table.add_row(name, str(rate), "", "", "", "")
    console.print(table)
    console.print(report["summary"])


def main(
    work: Annotated[Path, typer.Option(help="Checkpoint, bundle, venv.")] = Path("build/bench"),
    repeats: Annotated[int, typer.Option(help="Runs per measurement (median).")] = 3,
    quick: Annotated[bool, typer.Option(help="Fewer points, one repeat.")] = False,
) -> None:
    machine = cpu()
    console.print(summary(machine))
    work.mkdir(parents=True, exist_ok=True)
    repeats = 1 if quick else repeats
    checkpoint = build_albert_base(work / "albert-base-checkpoint")
    models_dir = work / "models"
    manifest = _export(checkpoint, models_dir / "albert-base")
    texts = ncbi_abstracts()
    ops_per_token = matmul_limits.encoder_ops_per_token(12, 768, 3072)
    report: dict[str, Any] = {
        "machine": record(machine),
        "fusion": manifest["fusion"],
        "graphs": {p: round(g["bytes"] / 1e6, 1) for p, g in manifest["graphs"].items()},
        "ops_per_token": ops_per_token,
        "matmul_limits": matmul_limits.measure(),
        "service": {},
    }
    console.print(report["matmul_limits"])
    for precision, grid in (QUICK_GRIDS if quick else GRIDS).items():
        report["service"][precision] = _serve_grid(
            models_dir, precision, texts, grid, repeats, work
        )
    sample = texts[:BASELINE_TEXTS]
    report["baselines"] = {
        "transformers": _pipelines(checkpoint, sample, repeats),
        "optimum": _optimum(checkpoint, sample, repeats, work),
    }
    report["summary"] = _summary(report, ops_per_token)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "core_path.json").write_text(json.dumps(report, indent=2))
    _print(report)


if __name__ == "__main__":
    typer.run(main)
