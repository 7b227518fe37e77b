"""Compare each ONNX graph with the framework model on built-in sample texts."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from biotag.bundle import Head, Parity, Precision
from biotag.cpu import host_lacks_vnni
from biotag.export.samples import SAMPLE_TEXTS

FP32_MAX_DIFF = 1e-4
REDUCED_PRECISION_MIN_AGREEMENT = 0.99


def reference_inputs(tokenizer: PreTrainedTokenizerBase, max_length: int) -> dict[str, np.ndarray]:
    encoded = tokenizer(
        list(SAMPLE_TEXTS),
        padding=True,
        truncation=True,
        max_length=max_length,
        return_tensors="np",
    )
    return {
        "input_ids": encoded["input_ids"].astype(np.int64),
        "attention_mask": encoded["attention_mask"].astype(np.int64),
        "token_type_ids": np.zeros_like(encoded["input_ids"], dtype=np.int64),
    }


def reference_logits(
    model: PreTrainedModel, inputs: dict[str, np.ndarray], names: list[str]
) -> np.ndarray:
    # nn.Module's own (typed) eval: PreTrainedModel re-declares it without annotations
    torch.nn.Module.eval(model)
    with torch.inference_mode():
        tensors = {name: torch.from_numpy(inputs[name]) for name in names}
        return np.asarray(model(**tensors).logits.float().numpy())


def providers_for(precision: Precision) -> list[str]:
    available = ort.get_available_providers()
    if precision == "fp16" and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider"]
    return ["CPUExecutionProvider"]


def check_graph(
    graph_path: str,
    precision: Precision,
    inputs: dict[str, np.ndarray],
    names: list[str],
    expected: np.ndarray,
    heads: list[Head],
) -> Parity | None:
    """Parity figures for one graph, or None when no provider here can run it (fp16 on CPU)."""
    providers = providers_for(precision)
    try:
        session = ort.InferenceSession(graph_path, providers=providers)
        actual = session.run(["logits"], {name: inputs[name] for name in names})[0]
    except Exception:  # ORT reports missing kernels as generic runtime errors
        if precision == "fp16":
            return None
        raise
    valid = inputs["attention_mask"].astype(bool)
    diff = float(np.abs(actual.astype(np.float32) - expected)[valid].max())
    agreements = [
        (actual[..., head.logit_slice].argmax(-1) == expected[..., head.logit_slice].argmax(-1))[
            valid
        ]
        for head in heads
    ]
    agreement = float(np.concatenate(agreements).mean())
    passed = (
        diff <= FP32_MAX_DIFF
        if precision == "fp32"
        else agreement >= REDUCED_PRECISION_MIN_AGREEMENT
    )
    on_cpu = providers[0] == "CPUExecutionProvider"
    return Parity(
        checked_on=providers[0],
        cpu_vnni=not host_lacks_vnni() if on_cpu else None,
        max_abs_logit_diff=diff,
        label_agreement=agreement,
        tokens_compared=int(valid.sum()),
        passed=passed,
    )
