"""Outlier channels in float: the same function, and int8 that no longer loses to them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper
from tokenizers import Tokenizer

from biotag.export.graphs import encoder_matmuls, plan_int8, quantize_int8
from biotag.export.outliers import channel_maxima, split_outlier_channels
from biotag.export.samples import SAMPLE_TEXTS

pytestmark = pytest.mark.slow


def _inputs(bundle: Path) -> dict[str, np.ndarray]:
    tokenizer = Tokenizer.from_file(str(bundle / "tokenizer.json"))
    tokenizer.enable_padding()
    encoded = tokenizer.encode_batch(list(SAMPLE_TEXTS))
    ids = np.array([e.ids for e in encoded], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _logits(model: onnx.ModelProto | Path, inputs: dict[str, np.ndarray]) -> np.ndarray:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    feeds = {i.name: inputs[i.name] for i in session.get_inputs()}
    return np.asarray(session.run(None, feeds)[0])


@pytest.mark.parametrize("bundle", ["tiny-bert", "tiny-disease"])
def test_splitting_channels_off_keeps_the_float_function(
    tiny_bundles_dir: Path, bundle: str
) -> None:
    model = onnx.load(str(tiny_bundles_dir / bundle / "model.fp32.onnx"))
    inputs = _inputs(tiny_bundles_dir / bundle)
    before = _logits(model, inputs)
    weights = {i.name: numpy_helper.to_array(i).copy() for i in model.graph.initializer}
    matmuls = encoder_matmuls(model)
    assert len({_weight_of(model, name) for name in matmuls}) == len(matmuls)
    maxima = channel_maxima(model, [_input_of(model, name) for name in matmuls], inputs)
    # a threshold the tiny models' activations cross: half of some tensor's channels, or more
    threshold = min(float(np.median(channels)) for channels in maxima.values())

    float_products, moved = split_outlier_channels(model, matmuls, inputs, threshold)

    assert moved > 0
    assert len(float_products) == len(matmuls)
    np.testing.assert_allclose(_logits(model, inputs), before, rtol=1e-4, atol=1e-4)
    # each bias goes on the int8 product, where ONNX Runtime folds it into the integer kernel,
    # and the float outlier product is added after it
    biased = [
        node
        for node in model.graph.node
        if node.op_type == "Add"
        and not node.name.endswith("_sum")
        and any(name.endswith("_inlier_product") for name in node.input)
    ]
    assert biased
    sums = {node.input[0]: node for node in model.graph.node if node.name.endswith("_sum")}
    assert all(node.output[0] in sums for node in biased)
    untouched = [
        node
        for node in model.graph.node
        if node.op_type == "MatMul" and node.name not in matmuls and node.input[1] in weights
    ]
    assert untouched  # the classifier keeps its weights whole
    for node in untouched:  # ALBERT's later layers too, which share layer 0's
        after = numpy_helper.to_array(_initializer(model, node.input[1]))
        np.testing.assert_array_equal(after, weights[node.input[1]])


def test_int8_keeps_its_accuracy_next_to_an_outlier_channel(
    tiny_bundles_dir: Path, tmp_path: Path
) -> None:
    bundle = tiny_bundles_dir / "tiny-bert"
    model = onnx.load(str(bundle / "model.fp32.onnx"))
    feed_forward_in = next(name for name in encoder_matmuls(model) if "intermediate" in name)
    source = _input_of(model, feed_forward_in)
    norm = next(node for node in model.graph.node if node.output[0] == source)
    gamma = _initializer(model, norm.input[1])
    planted = numpy_helper.to_array(gamma).copy()
    planted[:2] *= 60.0  # two systematic outlier features, as a trained encoder grows them
    gamma.CopyFrom(numpy_helper.from_array(planted, gamma.name))
    fp32 = tmp_path / "planted.onnx"
    onnx.save(model, str(fp32))
    inputs = _inputs(bundle)
    reference = _logits(model, inputs)
    real = inputs["attention_mask"].astype(bool)

    def error(calibration: dict[str, np.ndarray] | None) -> tuple[float, int]:
        out = tmp_path / f"int8-{calibration is not None}.onnx"
        plan = plan_int8(fp32, calibration=calibration)
        quantize_int8(plan, out)
        return float(np.abs(_logits(out, inputs) - reference)[real].mean()), plan.outlier_channels

    plain_error, none_moved = error(None)
    split_error, moved = error(inputs)

    assert none_moved == 0
    assert moved >= 2
    assert split_error < plain_error / 2


def _input_of(model: onnx.ModelProto, node_name: str) -> str:
    return next(node.input[0] for node in model.graph.node if node.name == node_name)


def _weight_of(model: onnx.ModelProto, node_name: str) -> str:
    return next(node.input[1] for node in model.graph.node if node.name == node_name)


def _initializer(model: onnx.ModelProto, name: str) -> onnx.TensorProto:
    return next(init for init in model.graph.initializer if init.name == name)
