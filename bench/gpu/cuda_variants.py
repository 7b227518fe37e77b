"""Which CUDA provider settings run the service's OnnxSession fastest, and does memory stay flat.

The first H200 run found the fp16 graph slower than fp32 (41 ms per single sequence against
2.4 ms, with the server's CPU busy and the GPU idle) and GPU memory rising ~0.1 MB per batch of
a new shape. Each variant here is one OnnxSession (fresh session) timed on single sequences of new
lengths, single sequences of one length, and batches of 16; then GPU memory is read before and
after 150 batches of random shapes. An ONNX Runtime profile of the default fp16 and fp32 graphs
gives the time per operator type.
"""

from __future__ import annotations

import gc
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.gpu.engine_checks import Tuning, load_engine
from bench.gpu.gpu_monitor import GpuSampler

# sdpa_kernel bits (ONNX Runtime AttentionBackend): 1 flash, 2 memory-efficient, 4 TensorRT fused,
# 16 unfused, 32 TensorRT flash
VARIANTS: dict[str, tuple[str, Tuning]] = {
    "fp32": ("fp32", Tuning()),
    "fp16": ("fp16", Tuning()),
    "fp16_efficient": ("fp16", Tuning({"sdpa_kernel": "2"})),
    "fp16_flash": ("fp16", Tuning({"sdpa_kernel": "1"})),
    "fp16_trt": ("fp16", Tuning({"sdpa_kernel": "36"})),
    "fp16_unfused": ("fp16", Tuning({"sdpa_kernel": "16"})),
    "fp16_w64": ("fp16", Tuning(width_multiple=64)),
    "fp16_efficient_w64": ("fp16", Tuning({"sdpa_kernel": "2"}, width_multiple=64)),
    "fp32_w64": ("fp32", Tuning(width_multiple=64)),
}


def _timed(call: Callable[[], object], repeats: int) -> dict[str, float]:
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return {
        "median_ms": round(statistics.median(walls) * 1000, 2),
        "mean_cpu_ms": round(statistics.fmean(cpus) * 1000, 2),
    }


def _variant(
    bundle: Path,
    precision: str,
    tuning: Tuning,
    device: str,
    device_id: int,
    vocab: int,
    sampler: GpuSampler,
) -> dict[str, Any]:
    engine = load_engine(bundle, precision, device, device_id, 0, tuning)
    rng = np.random.default_rng(7)

    def ids(length: int) -> np.ndarray:
        return rng.integers(5, vocab, size=length).astype(np.int64)

    engine.run([ids(320)])
    result: dict[str, Any] = {
        "single_new_lengths": _timed(lambda: engine.run([ids(int(rng.integers(200, 400)))]), 30),
        "single_one_length": _timed(lambda: engine.run([ids(320)]), 30),
    }
    fixed_batch = [ids(int(n)) for n in rng.integers(200, 400, size=16)]
    engine.run(fixed_batch)
    batch = _timed(lambda: engine.run(fixed_batch), 10)
    result["batch16_same"] = batch | {"sequences_per_s": round(16000 / batch["median_ms"], 1)}
    result["batch16_new"] = _timed(
        lambda: engine.run([ids(int(n)) for n in rng.integers(200, 400, size=16)]), 10
    )
    before = _memory(sampler)
    for _ in range(150):
        width = int(rng.integers(16, 513))
        rows = int(rng.integers(1, min(32, 16384 // width) + 1))
        engine.run([ids(int(n)) for n in rng.integers(max(1, width // 2), width + 1, size=rows)])
    result["memory_growth_mb_150_shapes"] = (
        None if before is None else round((_memory(sampler) or 0) - before, 1)
    )
    return result


def _memory(sampler: GpuSampler) -> float | None:
    time.sleep(0.25)
    now = time.monotonic()
    return (sampler.window(now - 0.2, now) or {}).get("memory_max_mb")


def _op_profile(
    graph: Path, device: str, device_id: int, vocab: int, work: Path
) -> dict[str, float]:
    """Milliseconds per operator type over 10 single sequences of new lengths."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(work / f"variants-{graph.stem}")
    options.log_severity_level = 3
    cuda = ("CUDAExecutionProvider", {"device_id": device_id})
    providers = [cuda, "CPUExecutionProvider"] if device == "cuda" else ["CPUExecutionProvider"]
    session = ort.InferenceSession(str(graph), options, providers=providers)
    names = {i.name for i in session.get_inputs()}
    rng = np.random.default_rng(3)
    for length in rng.integers(200, 400, size=10):
        feeds = {"input_ids": rng.integers(5, vocab, size=(1, int(length))).astype(np.int64)}
        feeds["attention_mask"] = np.ones_like(feeds["input_ids"])
        if "token_type_ids" in names:
            feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
        session.run(None, feeds)
    trace = json.loads(Path(session.end_profiling()).read_text())
    totals: dict[str, float] = {}
    for event in trace:
        if event.get("cat") == "Node" and event.get("name", "").endswith("_kernel_time"):
            op = event.get("args", {}).get("op_name", "?")
            totals[op] = totals.get(op, 0.0) + event.get("dur", 0) / 1000
    return dict(sorted(((k, round(v, 2)) for k, v in totals.items()), key=lambda kv: -kv[1])[:10])


def compare(
    bundle: Path,
    device: str,
    device_id: int,
    vocab: int,
    work: Path,
    remaining: Callable[[], float],
    log: Callable[[str], None],
) -> dict[str, Any]:
    from biotag.bundle import read_manifest

    manifest = read_manifest(bundle)
    sampler = GpuSampler(device_id, period_ms=100, enabled=device == "cuda")
    results: dict[str, Any] = {"variants": {}, "op_ms": {}}
    try:
        for precision in ("fp16", "fp32"):
            graph = bundle / manifest.graphs[precision].file  # type: ignore[index]
            try:
                results["op_ms"][precision] = _op_profile(graph, device, device_id, vocab, work)
            except Exception as exc:  # the timings below still say which variant is fast
                results["op_ms"][precision] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            log(f"variants: {precision} ms per op type {results['op_ms'][precision]}")
        for name, (precision, tuning) in VARIANTS.items():
            if remaining() < 20:
                results["variants"][name] = {"status": "skipped: out of time"}
                continue
            try:
                entry = _variant(bundle, precision, tuning, device, device_id, vocab, sampler)
            except Exception as exc:  # e.g. a kernel choice the graph cannot use
                entry = {"error": f"{type(exc).__name__}: {exc}"[:800]}
            gc.collect()  # the variant's session and its GPU arena go before the next one
            results["variants"][name] = entry
            log(f"variant {name}: {entry}")
    finally:
        sampler.stop()
    results["best"] = best_variant(results["variants"])
    return results


def best_variant(measured: dict[str, Any]) -> str:
    """Most sequences/s in batches of 16, unless single new-length latency is 2x the fp32's."""
    fp32_single = (measured.get("fp32", {}).get("single_new_lengths") or {}).get("median_ms")
    best, best_rate = "fp32", 0.0
    for name, entry in measured.items():
        rate = (entry.get("batch16_same") or {}).get("sequences_per_s")
        single = (entry.get("single_new_lengths") or {}).get("median_ms")
        if rate is None or single is None:
            continue
        if fp32_single is not None and single > 2 * fp32_single:
            continue
        if rate > best_rate:
            best, best_rate = name, rate
    return best
