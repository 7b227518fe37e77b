"""The prepared GPU check of biotag: one command, every stage recorded, nothing stops the run.

    PYTHONPATH=/tmp/site:$PWD python -m bench.gpu_check --out $OUT [--quick]
    python -m bench.gpu_check --out build/gpu-dry --device cpu --quick --tiny   # plumbing, CPU

Stages: environment, CUDA smoke test, a BioALBERT-base-sized random checkpoint, its export
(`python -m biotag.cli export`, fp32 + fp16), node placement per provider, fp16 vs fp32 label
agreement through the service's OnnxSession, GPU memory over 2,000 random batches, `biotag serve`
under HTTP load, and the transformers pipeline as the baseline. Results: gpu_check.json,
gpu_check.md and progress.log under --out. See docs/gpu.md.
"""

from __future__ import annotations

import gc
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bench.gpu import environment

if TYPE_CHECKING:
    from bench.gpu.report import Run


@dataclass(frozen=True)
class Plan:
    device: str
    tiny: bool
    quick: bool
    tune: bool  # compare CUDA settings first, then run the later stages with the fastest
    export_precisions: tuple[str, ...]
    candidate: str  # the reduced precision compared with fp32
    served: str  # the precision `biotag serve` picks on this device
    agreement_texts: int | None
    memory_batches: int
    memory_seconds: float
    memory_every: int
    http_grid: tuple[tuple[int, int], ...]  # the recommended set-up: workers + shared engine
    http_seconds: float
    workers: int  # server processes of the recommended set-up
    single_grid: tuple[tuple[int, int], ...]  # one process, for comparison
    per_worker_grid: tuple[tuple[int, int], ...]  # each worker its own sessions, for comparison
    one_in_flight_grid: tuple[tuple[int, int], ...]  # one batch at a time, for comparison
    baseline_texts: int | None
    baseline_dtypes: tuple[str, ...]
    baseline_batches: tuple[int, ...]
    threads: int


def make_plan(device: str, tiny: bool, quick: bool, tune: bool = False) -> Plan:
    cuda = device == "cuda"
    full_grid = tuple((c, d) for c in (1, 8, 32, 128) for d in (1, 16))
    quick_grid = ((1, 1), (8, 16), (128, 16)) if cuda else ((1, 1), (8, 4))
    plan = Plan(
        device=device,
        tiny=tiny,
        quick=quick,
        tune=False,
        # ONNX Runtime's CPU provider runs the fp16 graph too, so the dry run compares the same
        export_precisions=("fp32", "fp16"),
        candidate="fp16",
        served="fp16" if cuda else "fp32",
        agreement_texts=None if cuda else 40,
        memory_batches=(300 if quick else 2000) if cuda else 60,
        memory_seconds=(30 if quick else 100) if cuda else 40,
        memory_every=50 if cuda else 10,
        http_grid=quick_grid if quick else full_grid,
        http_seconds=(3 if quick else 6) if cuda else 2,
        # leaves cores for the engine process, the load generator and the tokenizers' threads
        workers=max(2, min(12, (os.cpu_count() or 2) - 4)),
        single_grid=((32, 16),) if quick or not cuda else ((1, 1), (32, 16)),
        per_worker_grid=((128, 16),) if quick or not cuda else ((32, 16), (128, 16)),
        one_in_flight_grid=() if quick or not cuda else ((32, 16), (128, 16)),
        baseline_texts=(200 if quick else 300) if cuda else 24,
        baseline_dtypes=("fp32",) if not cuda else ("fp16",) if quick else ("fp16", "fp32"),
        baseline_batches=(1, 32) if quick else (1, 8, 32),
        threads=0 if cuda else 1,
    )
    if not tune:
        return plan
    # the comparison of CUDA settings takes time: shorter later stages, no second precision
    return replace(
        plan,
        tune=True,
        memory_batches=1000 if cuda else 60,
        memory_seconds=45 if cuda else 20,
        http_grid=((1, 1), (8, 16), (32, 16), (128, 16)) if cuda else ((1, 1),),
        http_seconds=4 if cuda else 2,
        one_in_flight_grid=(),
        baseline_texts=300 if cuda else 24,
        baseline_dtypes=("fp16",) if cuda else ("fp32",),
        baseline_batches=(32,),
    )


def main(
    out: Annotated[Path, typer.Option(help="Results folder ($OUT on the GPU machine).")],
    quick: Annotated[bool, typer.Option(help="A ~2-minute subset.")] = False,
    device: Annotated[str, typer.Option(help="cuda, or cpu for a dry run of the plumbing.")] = (
        "cuda"
    ),
    tiny: Annotated[bool, typer.Option(help="A 2-layer, hidden-128 ALBERT (dry runs).")] = False,
    work: Annotated[Path, typer.Option(help="Checkpoint, bundle, logs (not brought back).")] = Path(
        "/tmp/biotag-gpu-work"
    ),
    data: Annotated[
        Path | None, typer.Option(help="Folder with the NCBI train/devel .pubtator files.")
    ] = None,
    budget_s: Annotated[
        float | None, typer.Option(help="Stop starting stages after this; default by mode.")
    ] = None,
    tokenizer: Annotated[
        str, typer.Option(help="auto, sentencepiece or tokenizers (the fallback builder).")
    ] = "auto",
    device_id: Annotated[int, typer.Option(help="CUDA device.")] = 0,
    tune: Annotated[
        bool, typer.Option(help="Compare CUDA settings, then measure with the fastest.")
    ] = False,
    variant: Annotated[
        str | None,
        typer.Option(help="With --tune: skip the comparison, use this bench.gpu.cuda_variants."),
    ] = None,
) -> None:
    if device not in ("cuda", "cpu"):
        raise typer.BadParameter("--device must be cuda or cpu")
    work.mkdir(parents=True, exist_ok=True)
    environment.reexec_once()  # returns only in the re-executed process (or if exec fails)

    from bench.gpu.report import Run

    budget = budget_s or ((150 if quick else 450) if device == "cuda" else 900)
    plan = make_plan(device, tiny, quick, tune)
    run = Run(out, budget)
    run.results |= {"device": device, "tiny": tiny, "quick": quick, "plan": asdict(plan)}
    run.log(f"gpu_check: device={device} quick={quick} tiny={tiny} out={out} work={work}")
    try:
        _stages(run, plan, work, data, tokenizer, device_id, variant)
    finally:
        statuses = {name: record["status"] for name, record in run.results["stages"].items()}
        run.log(f"done: {statuses}; results in {out}")
        run.close()


def _stages(
    run: Run,
    plan: Plan,
    work: Path,
    data: Path | None,
    tokenizer: str,
    device_id: int,
    variant: str | None,
) -> None:
    from bench.gpu import checkpoint

    device = plan.device
    run.stage("environment", lambda: environment.describe(device))
    if device == "cuda":
        run.stage("cuda_smoke", lambda: environment.cuda_smoke(work, device_id))
    texts, source = environment.find_abstracts(data)
    run.results["data"] = {"source": source, "texts": len(texts)}
    run.log(f"data: {len(texts)} texts, {source}")

    name = "albert-tiny" if plan.tiny else "albert-base"
    ckpt = work / f"{name}-checkpoint"
    models_dir = work / "models"
    bundle = models_dir / name
    run.stage("checkpoint", lambda: checkpoint.build_checkpoint(ckpt, texts, plan.tiny, tokenizer))
    run.stage(
        "export",
        lambda: checkpoint.export_bundle(
            ckpt,
            bundle,
            list(plan.export_precisions),
            work / "export.log",
            timeout_s=max(60.0, run.remaining() - 60),
        ),
        min_s=60,
    )
    vocab = _vocab_size(bundle)
    served, tuning = plan.served, None
    if plan.tune:
        from bench.gpu import cuda_variants

        if variant is None:
            compared = run.stage(
                "variants",
                lambda: cuda_variants.compare(
                    bundle, device, device_id, vocab, work, run.remaining, run.log
                ),
                min_s=60,
            )
            variant = compared["best"] if compared else None
        if variant is not None:
            precision, tuning = cuda_variants.VARIANTS[variant]
            served = precision if device == "cuda" else served  # the CPU serves fp32 or int8
            run.log(f"variant {variant} = {precision}, {tuning}")
    else:
        run.stage("placement", lambda: _placement(plan, bundle, device_id, vocab, work), min_s=20)
    server_env: dict[str, str] = {}
    if device == "cpu":  # the dry run: one ORT thread beside the load generator on few cores
        server_env["BIOTAG_INTRA_OP_THREADS"] = "1"
    if tuning is not None:
        server_env["BIOTAG_CUDA_PROVIDER_OPTIONS"] = json.dumps(tuning.provider_options)
        server_env["BIOTAG_CUDA_WIDTH_MULTIPLE"] = str(tuning.width_multiple)
    run.results["served"] = {"precision": served, "server_env": server_env}
    texts_for_agreement = texts[: plan.agreement_texts] if plan.agreement_texts else texts
    run.stage(
        "agreement",
        lambda: _engine_checks().agreement(
            bundle,
            texts_for_agreement,
            "fp32",
            plan.candidate,
            device,
            device_id,
            plan.threads,
            run.log,
            tuning,
        ),
        min_s=30,
    )
    run.stage(
        "memory",
        lambda: _engine_checks().memory_plateau(
            bundle,
            served,
            plan.memory_batches,
            min(plan.memory_seconds, max(10.0, run.remaining() - 150)),
            device,
            device_id,
            plan.threads,
            vocab,
            run.log,
            every=plan.memory_every,
            tuning=tuning,
        ),
        min_s=30,
    )
    gc.collect()
    from bench import http_bench
    from bench.gpu.baseline import pipeline_baseline

    def http_stage(
        name: str,
        grid: tuple[tuple[int, int], ...],
        workers: int,
        half_peak: bool = False,
        **env: str,
    ) -> None:
        run.stage(
            name,
            lambda: http_bench.benchmark(
                models_dir,
                device,
                device_id,
                served,
                texts,
                list(grid),
                plan.http_seconds,
                work,
                run.remaining,
                run.log,
                workers=workers,
                extra_env=server_env | env,
                half_peak=half_peak,
            ),
            min_s=45,
        )

    # the recommended set-up first, with its latency at half its peak; then what it replaced
    http_stage("http", plan.http_grid, plan.workers, half_peak=True)
    baseline_texts = texts[: plan.baseline_texts] if plan.baseline_texts else texts
    run.stage(
        "baseline",
        lambda: pipeline_baseline(
            ckpt,
            baseline_texts,
            device,
            list(plan.baseline_dtypes),
            list(plan.baseline_batches),
            run.remaining,
            run.log,
        ),
        min_s=30,
    )
    http_stage("http_single", plan.single_grid, 1)
    http_stage(
        "http_per_worker_engines",
        plan.per_worker_grid,
        plan.workers,
        BIOTAG_SHARED_ENGINE="false",
    )
    if plan.one_in_flight_grid:
        http_stage(
            "http_one_batch_in_flight",
            plan.one_in_flight_grid,
            plan.workers,
            BIOTAG_CUDA_BATCHES_IN_FLIGHT="1",
        )


def _engine_checks() -> Any:
    from bench.gpu import engine_checks

    return engine_checks


def _vocab_size(bundle: Path) -> int:
    try:
        from tokenizers import Tokenizer

        return int(Tokenizer.from_file(str(bundle / "tokenizer.json")).get_vocab_size())
    except Exception:  # no bundle: later stages record their own errors
        return 1000


def _placement(plan: Plan, bundle: Path, device_id: int, vocab: int, work: Path) -> dict[str, Any]:
    from bench.gpu.placement import profile_placement, strict_session
    from biotag.bundle import read_manifest

    manifest = read_manifest(bundle)
    precisions = (plan.candidate, "fp32")
    result: dict[str, Any] = {}
    for precision in precisions:
        if precision not in manifest.graphs:
            result[precision] = {"error": "not in the bundle"}
            continue
        graph = bundle / manifest.graphs[precision].file  # type: ignore[index]
        entry: dict[str, Any] = {"strict": strict_session(graph, plan.device, device_id)}
        try:
            entry["profile"] = profile_placement(graph, plan.device, device_id, vocab, work)
        except Exception as exc:  # keep the strict result
            entry["profile"] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
        result[precision] = entry
    return result


if __name__ == "__main__":
    typer.run(main)
