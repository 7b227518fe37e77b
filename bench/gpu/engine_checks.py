"""The service's own OnnxSession: reduced vs full precision labels, and memory by shape."""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.gpu.gpu_monitor import GpuSampler
from biotag.service.config import Settings

# the service's batch budget (BIOTAG_MAX_BATCH_TOKENS / _SIZE defaults)
MAX_BATCH_TOKENS: int = Settings.model_fields["max_batch_tokens"].default
MAX_BATCH_SIZE: int = Settings.model_fields["max_batch_size"].default
AGREEMENT_TARGET = 0.995


@dataclass(frozen=True)
class Tuning:
    """CUDA provider options and shape buckets, as BIOTAG_CUDA_PROVIDER_OPTIONS and
    BIOTAG_CUDA_WIDTH_MULTIPLE set them (0: exact shapes)."""

    provider_options: dict[str, str] = field(default_factory=dict)
    width_multiple: int = 0


def load_engine(
    bundle: Path,
    precision: str,
    device: str,
    device_id: int,
    threads: int,
    tuning: Tuning | None = None,
) -> Any:
    """The OnnxSession `biotag serve` opens for this bundle (with ``tuning``'s CUDA settings instead
    of the defaults), running the given precision."""
    from biotag.service.inference.registry import load_bundle, open_session

    overrides = {}
    if tuning is not None:
        overrides = {
            "cuda_provider_options": tuning.provider_options,
            "cuda_width_multiple": tuning.width_multiple,
        }
    settings = Settings(intra_op_threads=threads, cuda_device_id=device_id, **overrides)
    loaded = load_bundle(bundle, settings, device)  # type: ignore[arg-type]
    if precision not in loaded.manifest.graphs:
        raise RuntimeError(
            f"the bundle has no {precision} graph (has {sorted(loaded.manifest.graphs)})"
        )
    return open_session(replace(loaded, precision=precision), settings)  # type: ignore[arg-type]


def _windows(bundle: Path, texts: list[str]) -> tuple[list[np.ndarray], int, int]:
    """Token windows exactly as the service cuts them; also the special-token counts."""
    from biotag.bundle import read_manifest
    from biotag.service.text.chunking import DocumentTokenizer, plan_windows

    manifest = read_manifest(bundle)
    tokenizer = DocumentTokenizer.from_json(
        (bundle / manifest.tokenizer).read_text(encoding="utf-8")
    )
    capacity = manifest.max_length - tokenizer.special_count
    stride = min(64, capacity // 2 - 1)
    sequences = []
    for document in tokenizer.encode(texts):
        for window in plan_windows(len(document.ids), capacity, stride):
            sequences.append(tokenizer.window_ids(document, window))
    return sequences, len(tokenizer.prefix_ids), len(tokenizer.suffix_ids)


def _batches(sequences: list[np.ndarray]) -> list[list[int]]:
    """Indices sorted by length, cut under the service's token budget (as its batcher does)."""
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = len(sequences[index])  # sorted ascending: the newest is the longest
        if current and (
            len(current) >= MAX_BATCH_SIZE or width * (len(current) + 1) > MAX_BATCH_TOKENS
        ):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def _run_all(engine: Any, sequences: list[np.ndarray]) -> tuple[list[np.ndarray], float]:
    outputs: list[np.ndarray] = [np.empty(0)] * len(sequences)
    began = time.perf_counter()
    for batch in _batches(sequences):
        for index, logits in zip(batch, engine.run([sequences[i] for i in batch]), strict=True):
            outputs[index] = logits
    return outputs, time.perf_counter() - began


def agreement(
    bundle: Path,
    texts: list[str],
    reference: str,
    candidate: str,
    device: str,
    device_id: int,
    threads: int,
    log: Callable[[str], None],
    tuning: Tuning | None = None,
) -> dict[str, Any]:
    """Label agreement of ``candidate`` with ``reference`` over every window of every text."""
    sequences, prefix, suffix = _windows(bundle, texts)
    tokens = sum(len(s) for s in sequences)
    log(f"agreement: {len(texts)} texts -> {len(sequences)} windows, {tokens} tokens")
    result: dict[str, Any] = {
        "texts": len(texts),
        "windows": len(sequences),
        "tokens_with_specials": tokens,
        "reference": f"{reference} on {device}",
        "candidate": f"{candidate} on {device}",
    }
    logits: dict[str, list[np.ndarray]] = {}
    for precision in (reference, candidate):
        engine = load_engine(bundle, precision, device, device_id, threads, tuning)
        engine.warm_up(MAX_BATCH_SIZE if device == "cuda" else 4, 512 if device == "cuda" else 64)
        _run_all(engine, sequences[:64])  # warm the shapes
        logits[precision], seconds = _run_all(engine, sequences)
        result[f"engine_{precision}"] = {
            "seconds": round(seconds, 3),
            "texts_per_s": round(len(texts) / seconds, 1),
            "tokens_per_s": round(tokens / seconds),
            "batch_invariant": engine.batch_invariant,
        }
        log(f"agreement: {precision} {len(texts) / seconds:.1f} texts/s through OnnxSession.run")
        if precision == candidate and engine.batch_invariant:
            result["batch_invariance"] = _batch_invariance(engine, sequences[:48])
        del engine
        gc.collect()
    agree = 0
    compared = 0
    windows_differing = 0
    max_diff = 0.0
    sum_diff = 0.0
    values = 0
    for full, reduced in zip(logits[reference], logits[candidate], strict=True):
        core = slice(prefix, len(full) - suffix)
        same = full[core].argmax(-1) == reduced[core].argmax(-1)
        agree += int(same.sum())
        compared += same.size
        windows_differing += int(not same.all())
        diff = np.abs(full[core].astype(np.float32) - reduced[core].astype(np.float32))
        max_diff = max(max_diff, float(diff.max(initial=0.0)))
        sum_diff += float(diff.sum())
        values += diff.size
    share = agree / max(compared, 1)
    result |= {
        "tokens_compared": compared,
        "label_agreement": round(share, 6),
        "target": AGREEMENT_TARGET,
        "passed": share >= AGREEMENT_TARGET,
        "windows_with_a_difference": windows_differing,
        "max_abs_logit_diff": round(max_diff, 5),
        "mean_abs_logit_diff": round(sum_diff / max(values, 1), 6),
    }
    return result


def _batch_invariance(engine: Any, sequences: list[np.ndarray]) -> dict[str, Any]:
    """One at a time vs in one padded batch: the service promises the same entities either way."""
    alone = [engine.run([s])[0] for s in sequences]
    together = engine.run(sequences)
    diffs = [float(np.abs(a - b).max()) for a, b in zip(alone, together, strict=True)]
    same = [
        float((a.argmax(-1) == b.argmax(-1)).mean()) for a, b in zip(alone, together, strict=True)
    ]
    return {
        "sequences": len(sequences),
        "max_abs_logit_diff": round(max(diffs), 5),
        "min_label_agreement": round(min(same), 6),
    }


def _rss_mb() -> float | None:
    with open(f"/proc/{os.getpid()}/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return None


def memory_plateau(
    bundle: Path,
    precision: str,
    batches: int,
    seconds_cap: float,
    device: str,
    device_id: int,
    threads: int,
    vocab: int,
    log: Callable[[str], None],
    every: int = 50,
    max_length: int = 512,
    tuning: Tuning | None = None,
) -> dict[str, Any]:
    """Random widths 16..max_length and random batch sizes under the token budget."""
    sampler = GpuSampler(device_id, period_ms=100, enabled=device == "cuda")

    def memory_mb(since: float) -> float | None:
        """The most GPU memory seen since ``since`` (nvidia-smi), or this process's RSS."""
        if not sampler.active:
            return _rss_mb()
        time.sleep(0.15)  # let the sampler catch up with the last batch
        return (sampler.window(since, time.monotonic()) or {}).get("memory_max_mb")

    engine = load_engine(bundle, precision, device, device_id, threads, tuning)
    rng = np.random.default_rng(1234)
    mark = time.monotonic()
    samples: list[dict[str, float | int | None]] = [{"batch": 0, "mb": memory_mb(mark - 1)}]
    tokens = 0
    began = time.perf_counter()
    done = 0
    for done in range(1, batches + 1):
        width = int(rng.integers(16, max_length + 1))
        rows = int(rng.integers(1, min(MAX_BATCH_SIZE, MAX_BATCH_TOKENS // width) + 1))
        lengths = rng.integers(max(16, width // 2), width + 1, size=rows)
        lengths[0] = width
        engine.run([rng.integers(5, vocab, size=int(n), dtype=np.int64) for n in lengths])
        tokens += int(lengths.sum())
        if done % every == 0:
            samples.append({"batch": done, "mb": memory_mb(mark)})
            mark = time.monotonic()
            if done % (every * 10) == 0:
                log(f"memory: {done} batches, {samples[-1]['mb']} MB")
            if time.perf_counter() - began > seconds_cap:
                log(f"memory: stopping at {done} batches (time cap {seconds_cap:.0f} s)")
                break
    seconds = time.perf_counter() - began
    sampler.stop()
    del engine
    gc.collect()
    values = [float(s["mb"]) for s in samples[1:] if s["mb"] is not None]
    result: dict[str, Any] = {
        "precision": precision,
        "batches_run": done,
        "batches_asked": batches,
        "seconds": round(seconds, 1),
        "tokens_per_s": round(tokens / seconds),
        "memory_source": (
            "max nvidia-smi memory.used between samples" if sampler.active else "process RSS"
        ),
        "samples": samples,
    }
    if len(values) >= 4:
        half = len(values) // 2
        first, last = max(values[:half]), max(values[half:])
        tolerance = max(64.0, 0.02 * first) if device == "cuda" else max(16.0, 0.02 * first)
        result |= {
            "max_first_half_mb": first,
            "max_last_half_mb": last,
            "tolerance_mb": tolerance,
            "plateaus": last <= first + tolerance,
        }
    else:
        result["plateaus"] = None
        result["why"] = "fewer than 4 memory samples"
    return result
