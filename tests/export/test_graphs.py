"""Graph rewrites: the same function, run faster."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from biotag.export.graphs import move_gelu_bias_to_matmul


@pytest.mark.parametrize(("fused", "plain"), [("BiasGelu", "Gelu"), ("FastGelu", "FastGelu")])
def test_gelu_bias_moves_before_the_gelu_unchanged_in_value(fused: str, plain: str) -> None:
    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((16, 32)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(32).astype(np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["h"], name="product"),
            helper.make_node("Relu", ["x"], ["r"], name="other"),
            helper.make_node(fused, ["h", "b"], ["y"], name="gelu", domain="com.microsoft"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 16])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 32]),
            helper.make_tensor_value_info("r", TensorProto.FLOAT, [3, 16]),
        ],
        [weight, bias],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets)
    x = rng.standard_normal((3, 16)).astype(np.float32)

    def run(m: onnx.ModelProto) -> list[np.ndarray]:
        session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, {"x": x})

    before = run(model)
    assert move_gelu_bias_to_matmul(model) == 1
    assert [(n.op_type, len(n.input)) for n in model.graph.node] == [
        ("MatMul", 2),
        ("Relu", 1),
        ("Add", 2),
        (plain, 1),
    ]
    for old, new in zip(before, run(model), strict=True):
        np.testing.assert_allclose(new, old, rtol=1e-5, atol=1e-5)
