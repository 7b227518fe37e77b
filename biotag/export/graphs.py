"""Build the ONNX graphs of a bundle: export, transformer fusion, fp16 and int8 variants."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers.fusion_options import FusionOptions
from onnxruntime.transformers.onnx_model import OnnxModel
from onnxruntime.transformers.optimizer import optimize_model
from transformers import PreTrainedModel

from biotag.export.errors import ExportError
from biotag.export.outliers import LLM_INT8_THRESHOLD, split_outlier_channels

OPSET = 17
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAME = "logits"


class _LogitsOnly(torch.nn.Module):
    """Token classifier returning the logits tensor alone, so the graph has one named output."""

    def __init__(self, model: PreTrainedModel, with_token_types: bool) -> None:
        super().__init__()
        self.model = model
        self.with_token_types = with_token_types

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        names = INPUT_NAMES if self.with_token_types else INPUT_NAMES[:2]
        logits: torch.Tensor = self.model(**dict(zip(names, inputs, strict=True))).logits
        return logits


def uses_token_types(model: PreTrainedModel, tokenizer_outputs: list[str]) -> bool:
    """Whether the graph takes token_type_ids: only when the model reads them and the tokenizer
    produces them, so that a tokenizer's output can be fed to the graph as it is."""
    takes_argument = "token_type_ids" in inspect.signature(model.forward).parameters
    has_types = int(getattr(model.config, "type_vocab_size", 0) or 0) > 0
    return takes_argument and has_types and "token_type_ids" in tokenizer_outputs


def export_fp32(model: PreTrainedModel, path: Path, tokenizer_outputs: list[str]) -> list[str]:
    """Export with dynamic batch and sequence axes; returns the graph's input names."""
    with_token_types = uses_token_types(model, tokenizer_outputs)
    names = list(INPUT_NAMES if with_token_types else INPUT_NAMES[:2])
    wrapper = _LogitsOnly(model, with_token_types).eval()
    sample = torch.tensor([[2, 7, 8, 9, 3], [2, 7, 8, 3, 0]], dtype=torch.long)
    mask = (torch.arange(5) < torch.tensor([[5], [4]])).long()
    args = (sample, mask, torch.zeros_like(sample))[: len(names)]
    axes = {name: {0: "batch", 1: "sequence"} for name in [*names, OUTPUT_NAME]}
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated upstream, but ONNX Runtime's transformer
        # fusions match the graphs it produces; its tracer warnings concern shape checks
        # that are constant for a token classifier.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper,
            args,
            str(path),
            input_names=names,
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    return names


def optimize(
    fp32_path: Path, out_path: Path, num_heads: int, hidden_size: int, skip_layer_norm: bool
) -> dict[str, int]:
    """Run ONNX Runtime's transformer optimizer (ALBERT goes through the BERT path).

    ``skip_layer_norm=False`` leaves residual Add + LayerNormalization unfused: on the CPU,
    ORT 1.32's SkipLayerNormalization kernel took 18 of ALBERT-base's 101 ms per int8 sequence
    against 2 ms for LayerNormalization (the OnnxSession also keeps ORT from fusing them at load).
    Returns the fused-operator counts. Duplicate initializers are merged afterwards: fusion
    gives each of ALBERT's shared layers its own copy of the packed QKV weights.
    """
    options = FusionOptions("bert")
    options.enable_skip_layer_norm = skip_layer_norm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the optimizer's own deprecation chatter
        optimized = optimize_model(
            str(fp32_path),
            model_type="bert",
            num_heads=num_heads,
            hidden_size=hidden_size,
            optimization_options=options,
        )
    counts = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
    optimized.remove_duplicated_initializer({})
    optimized.prune_graph()
    optimized.save_model_to_file(str(out_path))
    return counts


def to_fp16(fp32_path: Path, out_path: Path) -> None:
    """Half precision for CUDA; inputs and logits stay int64 / float32 for the caller."""
    model = OnnxModel(onnx.load(str(fp32_path)))
    model.convert_float_to_float16(keep_io_types=True)
    model.remove_duplicated_initializer({})
    model.save_model_to_file(str(out_path))


def _classifier_nodes(model: onnx.ModelProto) -> list[str]:
    """The MatMul producing the logits: kept in float, it is small and decides the labels."""
    producers = {output: node for node in model.graph.node for output in node.output}
    node = producers.get(OUTPUT_NAME)
    while node is not None and node.op_type != "MatMul":
        node = next((producers[i] for i in node.input if i in producers), None)
    return [node.name] if node is not None else []


_GELU_WITHOUT_BIAS = {"FastGelu": "FastGelu", "BiasGelu": "Gelu"}


def move_gelu_bias_to_matmul(model: onnx.ModelProto) -> int:
    """Rewrite each fused ``gelu(x + bias)`` whose x comes from a MatMul as ``Add`` then a GELU
    without bias, returning how many: after quantization ONNX Runtime folds that Add into the
    integer product's output (free), and the bias-less GELU kernel is faster. Same function;
    int8 default bundle +4.4% abstracts/s, int8 ALBERT-base +1% (ORT 1.32, 2 CPU threads)."""
    producers = {output: node.op_type for node in model.graph.node for output in node.output}
    rewritten: list[onnx.NodeProto] = []
    moved = 0
    for node in model.graph.node:
        if (
            node.op_type in _GELU_WITHOUT_BIAS
            and node.domain == "com.microsoft"
            and len(node.input) == 2
            and producers.get(node.input[0]) == "MatMul"
        ):
            biased = f"{node.name}_biased"
            rewritten.append(
                onnx.helper.make_node("Add", list(node.input), [biased], name=f"{node.name}_bias")
            )
            rewritten.append(
                onnx.helper.make_node(
                    _GELU_WITHOUT_BIAS[node.op_type],
                    [biased],
                    list(node.output),
                    name=node.name,
                    domain="com.microsoft",
                )
            )
            moved += 1
        else:
            rewritten.append(node)
    del model.graph.node[:]
    model.graph.node.extend(rewritten)
    return moved


def encoder_layer_nodes(model: onnx.ModelProto, layer: int) -> list[str]:
    """The fused ``Attention`` node of encoder layer ``layer`` (0-based, in graph order) and
    the MatMuls after it up to the next layer's: its attention output and feed-forward."""
    attention_seen = -1
    chosen: list[str] = []
    for node in model.graph.node:
        if node.op_type == "Attention":
            attention_seen += 1
        if attention_seen == layer and node.op_type in {"Attention", "MatMul"}:
            chosen.append(node.name)
    if attention_seen < 0:
        raise ExportError(
            f"cannot keep layer {layer} in float: the graph has no fused Attention nodes to "
            "find encoder layers by"
        )
    if attention_seen < layer:
        raise ExportError(
            f"cannot keep layer {layer} in float: no encoder layer {layer}: the graph has "
            f"{attention_seen + 1}"
        )
    return chosen


def encoder_matmuls(model: onnx.ModelProto) -> list[str]:
    """The MatMuls of every encoder layer (attention output, feed-forward in and out; not the
    classifier), each weight once: where layers share theirs (ALBERT), the first layer's node
    alone. None in a graph without fused Attention nodes to find layers by."""
    classifier = set(_classifier_nodes(model))
    chosen: list[str] = []
    weights: set[str] = set()
    in_encoder = False  # from the first layer's Attention on, as encoder_layer_nodes counts
    for node in model.graph.node:
        in_encoder = in_encoder or node.op_type == "Attention"
        if not in_encoder or node.op_type != "MatMul" or node.name in classifier:
            continue
        if node.input[1] not in weights:
            weights.add(node.input[1])
            chosen.append(node.name)
    return chosen


@dataclass(frozen=True)
class Int8Plan:
    """An fp32 graph made ready for dynamic int8 quantization: the nodes kept in float and how
    many encoder input channels moved to float products (see ``plan_int8``)."""

    model: onnx.ModelProto
    excluded: list[str]
    outlier_channels: int


def plan_int8(
    fp32_path: Path,
    float_layers: Sequence[int] = (),
    calibration: Mapping[str, np.ndarray] | None = None,
    outlier_threshold: float = LLM_INT8_THRESHOLD,
) -> Int8Plan:
    """The float part of dynamic int8 quantization: which nodes stay in float, and the input
    channels of the encoder's MatMuls whose magnitude exceeds ``outlier_threshold`` on the
    ``calibration`` inputs split off into float products (none without; ``encoder_matmuls``).
    Probing runs the fp32 graph, so an export that builds both weight widths plans once
    (``quantize_int8``).

    ``float_layers``: encoder layers kept in float. The first layer is the one int8 hurts
    most: in the 8-epoch MiniLM checkpoint (issue 17, on an AVX2-only CPU), species devel F1
    is 0.848 int8 and 0.868 fp32; 0.865 with layer 0 in float, at most 0.853 with any other
    single layer in float, and 0.850 with unsigned weights, which cannot saturate: so it is
    quantization error, not the saturation below. It costs the layer's float weights (+5.3 MB
    there) and 4-10% of the time per 128-token sequence (two interleaved runs, 2 threads).
    """
    fp32 = onnx.load(str(fp32_path))
    excluded = _classifier_nodes(fp32)
    for layer in float_layers:
        excluded += encoder_layer_nodes(fp32, layer)
    move_gelu_bias_to_matmul(fp32)
    moved = 0
    if calibration is not None:
        candidates = [name for name in encoder_matmuls(fp32) if name not in excluded]
        float_products, moved = split_outlier_channels(
            fp32, candidates, calibration, outlier_threshold
        )
        excluded += float_products
    return Int8Plan(fp32, excluded, moved)


def quantize_int8(plan: Int8Plan, out_path: Path, reduce_range: bool = False) -> None:
    """Write ``plan``'s graph with dynamic int8 quantization: weights per channel, activations
    per tensor at run time.

    ``reduce_range``: 7-bit weights. Without VNNI (AVX2 only), ONNX Runtime's u8 x s8 kernel
    adds the products of weights 2j and 2j+1 in a saturating 16-bit sum (measured: 255 x
    (127, 127) gives 32,767); 7-bit weights never reach it (255 x 63 x 2 = 32,130). On VNNI CPUs
    7 bits only cost accuracy: default bundle, BC5CDR disease devel F1 0.7711 with 7 bits,
    0.7768 with 8, 0.7770 in fp32. Limiting only the pairs that could saturate was tried and
    dropped: it cost more (ALBERT-base label agreement 94.5% vs 96.7% full range and 99.3%
    7-bit, on an AVX2 CPU).
    """
    model = onnx.ModelProto()
    model.CopyFrom(plan.model)  # the quantizer rewrites the graph it is given
    quantize_dynamic(
        model,
        str(out_path),
        weight_type=QuantType.QInt8,
        per_channel=True,
        reduce_range=reduce_range,
        nodes_to_exclude=plan.excluded,
        # The fused graph carries contrib ops whose outputs have no inferred type.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    quantized = OnnxModel(onnx.load(str(out_path)))
    quantized.remove_duplicated_initializer({})
    quantized.save_model_to_file(str(out_path))
