"""Which execution provider runs each node: a strict session and the profiler's per-node record."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

# Nodes that only compute shapes or indices; ONNX Runtime may keep these on the CPU on purpose.
SHAPE_OPS = frozenset(
    {
        "Shape",
        "Gather",
        "Unsqueeze",
        "Squeeze",
        "Concat",
        "Slice",
        "Reshape",
        "ConstantOfShape",
        "Range",
        "Equal",
        "Where",
        "Expand",
        "Size",
        "ReduceSum",
        "Cast",
        "MemcpyToHost",
        "MemcpyFromHost",
    }
)
_ORT_NAME = {"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}


def _providers(device: str, device_id: int) -> list[str | tuple[str, dict[str, object]]]:
    if device == "cuda":
        options: dict[str, object] = {"device_id": device_id}
        return [("CUDAExecutionProvider", options), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _feeds(session: Any, rows: int, length: int, vocab: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    ids = rng.integers(5, vocab, size=(rows, length), dtype=np.int64)
    mask = np.ones_like(ids)
    mask[rows // 2 :, length // 2 :] = 0  # some padding, as in real batches
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    names = {i.name for i in session.get_inputs()}
    return {k: v for k, v in feeds.items() if k in names}


def strict_session(graph: Path, device: str, device_id: int) -> dict[str, Any]:
    """Session creation with CPU fallback disabled fails if any node is placed on the CPU EP."""
    import onnxruntime as ort

    if device != "cuda":
        return {"checked": False, "why": "only meaningful on CUDA"}
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
    # CPUExecutionProvider must not be listed too: ORT refuses that as a conflicting setting
    cuda_only = [("CUDAExecutionProvider", {"device_id": device_id})]
    try:
        session = ort.InferenceSession(str(graph), options, providers=cuda_only)
    except Exception as exc:  # the failure IS the finding: some node wanted the CPU
        return {"checked": True, "created": False, "error": f"{type(exc).__name__}: {exc}"[:3000]}
    return {"checked": True, "created": True, "providers": session.get_providers()}


def profile_placement(
    graph: Path, device: str, device_id: int, vocab: int, work: Path, runs: int = 3
) -> dict[str, Any]:
    """Run a few padded batches with profiling on; count nodes and kernel time per provider."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_profiling = True
    options.profile_file_prefix = str(work / f"profile-{graph.stem}")
    options.log_severity_level = 3
    session = ort.InferenceSession(str(graph), options, providers=_providers(device, device_id))
    for rows, length in ((1, 32), (8, 256), (16, 512))[:runs]:
        session.run(["logits"], _feeds(session, rows, length, vocab))
    profile_file = Path(session.end_profiling())
    events = json.loads(profile_file.read_text(encoding="utf-8"))
    return summarise_profile(events, _ORT_NAME[device]) | {
        "session_providers": session.get_providers(),
        "profile_file": str(profile_file),
    }


def summarise_profile(events: list[dict[str, Any]], target: str) -> dict[str, Any]:
    nodes: dict[str, tuple[str, str]] = {}  # node name -> (op type, provider)
    time_us: Counter[str] = Counter()
    for event in events:
        args = event.get("args") or {}
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or "provider" not in args:
            continue
        if not name.endswith("_kernel_time"):
            continue
        node = name.removesuffix("_kernel_time")
        nodes[node] = (str(args.get("op_name", "?")), str(args["provider"]))
        time_us[str(args["provider"])] += int(event.get("dur", 0))
    by_provider = Counter(provider for _, provider in nodes.values())
    off_target = sorted((n, op, p) for n, (op, p) in nodes.items() if p != target)
    heavy_off = [(n, op, p) for n, op, p in off_target if op not in SHAPE_OPS]
    total_time = sum(time_us.values()) or 1
    return {
        "target_provider": target,
        "nodes": len(nodes),
        "nodes_by_provider": dict(by_provider),
        "ops_on_target": dict(Counter(op for op, p in nodes.values() if p == target)),
        "nodes_off_target": [f"{n} ({op}) on {p}" for n, op, p in off_target][:60],
        "heavy_nodes_off_target": [f"{n} ({op}) on {p}" for n, op, p in heavy_off],
        "memcpy_nodes": sum(1 for op, _ in nodes.values() if op.startswith("Memcpy")),
        "kernel_time_share": {p: round(t / total_time, 4) for p, t in time_us.items()},
        "all_heavy_nodes_on_target": not heavy_off and bool(nodes),
    }
