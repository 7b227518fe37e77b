"""This CPU's matrix-multiply throughput through ONNX Runtime, fp32 and int8, and the bound it
puts on a transformer encoder: tokens/s <= ops/s / (2 x layers x (4 h^2 + 2 h f)).

    python -m bench.matmul_limits
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

# an ALBERT-base feed-forward product over one 512-token sequence
M, K, N = 512, 768, 3072


def encoder_ops_per_token(layers: int, hidden: int, intermediate: int) -> int:
    """Multiply-adds x 2 of the projections and feed-forward of one token (attention scores
    over the sequence not counted)."""
    return 2 * layers * (4 * hidden * hidden + 2 * hidden * intermediate)


def _session(int8: bool, threads: int) -> Any:
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    if int8:
        weight = numpy_helper.from_array(rng.integers(-127, 128, (K, N), dtype=np.int8), "w")
        node = helper.make_node("MatMulInteger", ["a", "w"], ["y"])
        inputs = [helper.make_tensor_value_info("a", TensorProto.UINT8, [M, K])]
        outputs = [helper.make_tensor_value_info("y", TensorProto.INT32, [M, N])]
    else:
        weight = numpy_helper.from_array(rng.standard_normal((K, N), dtype=np.float32), "w")
        node = helper.make_node("MatMul", ["a", "w"], ["y"])
        inputs = [helper.make_tensor_value_info("a", TensorProto.FLOAT, [M, K])]
        outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [M, N])]
    graph = helper.make_graph([node], "matmul", inputs, outputs, [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(
        model.SerializeToString(),
        options,
        providers=["CPUExecutionProvider"],
    )


def ops_per_second(int8: bool, threads: int = 0, seconds: float = 1.5) -> float:
    """Median over 5 timed rounds of M x K x N products (2 ops per multiply-add)."""
    session = _session(int8, threads)
    rng = np.random.default_rng(1)
    a = (
        rng.integers(0, 256, (M, K), dtype=np.uint8)
        if int8
        else rng.standard_normal((M, K), dtype=np.float32)
    )
    session.run(None, {"a": a})
    began = time.perf_counter()
    session.run(None, {"a": a})
    per_call = time.perf_counter() - began
    calls = max(3, int(seconds / 5 / per_call))
    rounds = []
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(calls):
            session.run(None, {"a": a})
        rounds.append(calls * 2 * M * K * N / (time.perf_counter() - began))
    return statistics.median(rounds)


def measure(threads: int = 0) -> dict[str, float]:
    return {
        "fp32_gflop_per_s": round(ops_per_second(False, threads) / 1e9, 1),
        "int8_gop_per_s": round(ops_per_second(True, threads) / 1e9, 1),
    }


if __name__ == "__main__":
    limits = measure()
    per_token = encoder_ops_per_token(12, 768, 3072)
    print(limits)
    for name, key in (("fp32", "fp32_gflop_per_s"), ("int8", "int8_gop_per_s")):
        print(f"ALBERT-base bound, {name}: {limits[key] * 1e9 / per_token:,.0f} tokens/s")
