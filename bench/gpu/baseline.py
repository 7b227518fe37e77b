"""The transformers token-classification pipeline on the same device and the same abstracts."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def pipeline_baseline(
    checkpoint: Path,
    texts: list[str],
    device: str,
    dtypes: list[str],
    batch_sizes: list[int],
    remaining: Callable[[], float],
    log: Callable[[str], None],
) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer, pipeline

    if device == "cpu":
        torch.set_num_threads(1)  # the dry run shares its cores
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
    result: dict[str, Any] = {
        "texts": len(texts),
        "aggregation_strategy": "first",
        "device": "cuda:0" if device == "cuda" else "cpu",
        "runs": {},
    }
    for dtype_name in dtypes:
        dtype = {"fp16": torch.float16, "fp32": torch.float32}[dtype_name]
        model = AutoModelForTokenClassification.from_pretrained(str(checkpoint), dtype=dtype)
        tagger = pipeline(
            "token-classification",
            model=model.eval(),
            tokenizer=tokenizer,
            device=0 if device == "cuda" else -1,
            aggregation_strategy="first",
        )
        tagger(texts[:8], batch_size=8)  # warm-up: CUDA context, kernels
        for batch_size in batch_sizes:
            key = f"{dtype_name}_bs{batch_size}"
            if remaining() < 15:
                result["runs"][key] = {"status": "skipped: out of time"}
                continue
            if device == "cuda":
                torch.cuda.synchronize()
            began = time.perf_counter()
            output = tagger(texts, batch_size=batch_size)
            seconds = time.perf_counter() - began
            entities = sum(len(doc) for doc in output)
            result["runs"][key] = {
                "seconds": round(seconds, 2),
                "abstracts_per_s": round(len(texts) / seconds, 2),
                "entities": entities,
            }
            log(f"baseline {key}: {len(texts) / seconds:.1f} abstracts/s")
        del tagger, model
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
    rates = {k: v["abstracts_per_s"] for k, v in result["runs"].items() if "abstracts_per_s" in v}
    if rates:
        best = max(rates, key=lambda k: rates[k])
        result["best"] = {"run": best, "abstracts_per_s": rates[best]}
    return result
