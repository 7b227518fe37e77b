"""The hand-written alternative: the transformers token-classification pipeline (PyTorch)."""

from __future__ import annotations

import time
from pathlib import Path


def pipeline_abstracts_per_s(checkpoint: Path, texts: list[str], batch_size: int) -> float:
    """Abstracts/s of `pipeline("token-classification", aggregation_strategy="first")`."""
    import torch
    from transformers import pipeline

    tagger = pipeline(
        "token-classification",
        model=str(checkpoint),
        aggregation_strategy="first",
        device=-1,
        dtype=torch.float32,
    )
    tagger(texts[:2], batch_size=batch_size)  # warm up
    began = time.perf_counter()
    tagger(texts, batch_size=batch_size)
    return len(texts) / (time.perf_counter() - began)
