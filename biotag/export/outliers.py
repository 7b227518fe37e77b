"""Outlier input channels computed in float beside the int8 product (LLM.int8(), Dettmers et
al. 2022, arXiv 2208.07339).

Dynamic int8 quantization scales each MatMul's input by its largest magnitude. In a BERT
encoder a handful of hidden channels reach 20-30 while the rest stay near 1-2 (default bundle:
3-5 of the 384 channels into each of layers 0-4's feed-forward layer, 0-3 of the 1,536 out of
it), so one scale step spans most of the other channels' range. Splitting those channels off
keeps the int8 scale fitted to the rest: ``x @ W == (x * inlier_mask) @ W_inliers +
x[..., outliers] @ W[outliers]``, the second product small and in float.

Measured on the final default model (issue 17, AMD EPYC with VNNI), species F1 on unseen text
(LINNAEUS devel tail / held-out training documents): fp32 0.7879 / 0.7838, plain int8 0.7772 /
0.7722, with layer 0's outlier channels in float 0.7908 / 0.7869. The outlier rows must leave
the int8 weights too: masking only the activations left 0.7809 / 0.7778, because those rows'
large weights widen every column's weight scale. Layer 0 alone was not enough where a window
holds several sentences: with every 10 guard sentences sent as one text, gene F1 was 0.7557
int8 against 0.7641 fp32; with every layer's outlier channels (26 in all) 0.7643, and every
head within 0.5 points of fp32 either way.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

LLM_INT8_THRESHOLD = 6.0  # the paper's: magnitudes above it are systematic outlier features


def channel_maxima(
    model: onnx.ModelProto, tensors: list[str], inputs: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Largest magnitude of each channel of ``tensors`` (each ``(batch, sequence, channels)``,
    as every MatMul input of an encoder layer is) over the real tokens of ``inputs``, those its
    ``attention_mask`` keeps, running ``model`` in float on the CPU."""
    probed = onnx.ModelProto()
    probed.CopyFrom(model)
    known = {output.name for output in probed.graph.output}
    for name in tensors:
        if name not in known:
            probed.graph.output.append(
                helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
            )
    session = ort.InferenceSession(probed.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name: inputs[i.name] for i in session.get_inputs()}
    real_tokens = inputs["attention_mask"].astype(bool)
    values = session.run(tensors, feeds)
    return {
        name: np.abs(value[real_tokens]).max(axis=0)
        for name, value in zip(tensors, values, strict=True)
    }


def split_outlier_channels(
    model: onnx.ModelProto,
    matmuls: list[str],
    inputs: Mapping[str, np.ndarray],
    threshold: float = LLM_INT8_THRESHOLD,
) -> tuple[list[str], int]:
    """Rewrite each named MatMul (constant weight) whose input has channels over
    ``threshold`` on ``inputs`` as an inlier product plus a float outlier product, in place.
    The function is unchanged. Returns the new float MatMuls (to keep out of quantization) and
    how many channels moved. A weight shared with other nodes (ALBERT's layers) is copied for
    the rewritten node, the others keep it whole."""
    nodes = {node.name: node for node in model.graph.node}
    initializers = {init.name: init for init in model.graph.initializer}
    consumers: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers[name] = consumers.get(name, 0) + 1
    chosen = [nodes[name] for name in matmuls if nodes[name].input[1] in initializers]
    maxima = channel_maxima(model, [node.input[0] for node in chosen], inputs)
    float_matmuls: list[str] = []
    moved = 0
    for node in chosen:
        outliers = np.flatnonzero(maxima[node.input[0]] > threshold)
        if not len(outliers):
            continue
        weight_init = initializers[node.input[1]]
        weight = numpy_helper.to_array(weight_init)
        inlier_weight = weight.copy()
        inlier_weight[outliers, :] = 0
        weight_name = weight_init.name
        if consumers[weight_name] > 1:
            weight_name = f"{node.name}_inlier_weight"
            node.input[1] = weight_name
            model.graph.initializer.append(numpy_helper.from_array(inlier_weight, weight_name))
        else:
            weight_init.CopyFrom(numpy_helper.from_array(inlier_weight, weight_name))
        mask = np.ones(weight.shape[0], dtype=weight.dtype)
        mask[outliers] = 0
        prefix = node.name
        model.graph.initializer.extend(
            [
                numpy_helper.from_array(mask, f"{prefix}_inlier_mask"),
                numpy_helper.from_array(outliers.astype(np.int64), f"{prefix}_outlier_channels"),
                numpy_helper.from_array(weight[outliers, :], f"{prefix}_outlier_weight"),
            ]
        )
        source, result = node.input[0], node.output[0]
        before = [
            helper.make_node(
                "Mul",
                [source, f"{prefix}_inlier_mask"],
                [f"{prefix}_inliers"],
                name=f"{prefix}_inliers",
            ),
            helper.make_node(
                "Gather",
                [source, f"{prefix}_outlier_channels"],
                [f"{prefix}_outliers"],
                name=f"{prefix}_outliers",
                axis=-1,
            ),
            helper.make_node(
                "MatMul",
                [f"{prefix}_outliers", f"{prefix}_outlier_weight"],
                [f"{prefix}_outlier_product"],
                name=f"{prefix}_outlier_product",
            ),
        ]
        node.input[0], node.output[0] = f"{prefix}_inliers", f"{prefix}_inlier_product"
        inlier_sum, after = f"{prefix}_inlier_product", node
        bias = _bias_add(model, result, initializers)
        if bias is not None:
            # The bias goes on the int8 product, where ONNX Runtime folds it into the integer
            # kernel, and the outlier product after it: a bias Add after the sum (or the
            # BiasGelu it fuses into) cost more than the split itself.
            bias.input[list(bias.input).index(result)] = inlier_sum
            result, bias.output[0] = bias.output[0], f"{prefix}_inlier_biased"
            inlier_sum, after = bias.output[0], bias
        total = helper.make_node(
            "Add", [inlier_sum, f"{prefix}_outlier_product"], [result], name=f"{prefix}_sum"
        )
        at = list(model.graph.node).index(node)
        for offset, new in enumerate(before):
            model.graph.node.insert(at + offset, new)
        model.graph.node.insert(list(model.graph.node).index(after) + 1, total)
        float_matmuls.append(f"{prefix}_outlier_product")
        moved += len(outliers)
    return float_matmuls, moved


def _bias_add(
    model: onnx.ModelProto, product: str, initializers: Mapping[str, onnx.TensorProto]
) -> onnx.NodeProto | None:
    """The ``Add`` of a constant bias that alone reads ``product``, if there is one."""
    readers = [node for node in model.graph.node if product in node.input]
    if len(readers) != 1 or readers[0].op_type != "Add":
        return None
    others = [name for name in readers[0].input if name != product]
    return readers[0] if len(others) == 1 and others[0] in initializers else None
