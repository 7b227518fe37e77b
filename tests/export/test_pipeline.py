"""Export: fused graphs, variants checked against PyTorch, a complete bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from transformers import AutoModelForTokenClassification, AutoTokenizer

from biotag.bundle import read_manifest
from biotag.export.pipeline import export_bundle

pytestmark = pytest.mark.slow
# sentences and words the tiny models never trained on: ~240 tokens, so an agreement rate is a
# rate (on two sentences one int8 flip among 34 tokens already cost 3%)
NEW_TEXTS = [
    "Two siblings had Huntington disease and one had leukemia.",
    "Ménière disease, again.",
    "Recurrent hepatitis B was seen in three of twelve transplant recipients.",
    "Neither tamoxifen nor BRCA2 status predicted survival in ovarian cancer (n = 41).",
    "Sjögren syndrome, Crohn disease and type 1 diabetes mellitus often co-occur.",
    "We report a novel CFTR variant in a boy with cystic fibrosis and pancreatitis.",
    "Parkinson disease progression was slower among coffee drinkers; Alzheimer disease was not.",
    "Duchenne muscular dystrophy carriers had normal creatine kinase levels.",
]


@pytest.mark.parametrize("bundle", ["tiny-disease", "tiny-bert"])
def test_bundle_is_complete_and_checked(tiny_bundles_dir: Path, bundle: str) -> None:
    directory = tiny_bundles_dir / bundle
    manifest = read_manifest(directory)
    assert manifest.name == bundle
    assert (directory / "tokenizer.json").is_file()
    assert set(manifest.graphs) == {"fp32", "int8", "fp16"}
    for graph in manifest.graphs.values():
        assert (directory / graph.file).stat().st_size == graph.bytes
        assert graph.parity is not None
        assert graph.parity.passed
    assert manifest.graphs["fp32"].parity.max_abs_logit_diff <= 1e-4
    assert manifest.graphs["int8"].parity.label_agreement >= 0.99
    assert manifest.graphs["int8"].batch_invariant is False
    (head,) = manifest.heads
    assert (head.name, head.scheme, head.entity_types) == (bundle, "BIO", ["Disease"])
    assert manifest.fusion.get("LayerNormalization", 0) > 0
    assert len(manifest.source_checkpoint_sha256) == 64
    assert {"torch", "onnxruntime", "transformers"} <= set(manifest.versions)


def _op_types(graph: Path) -> set[str]:
    return {node.op_type for node in onnx.load(str(graph)).graph.node}


@pytest.mark.parametrize("bundle", ["tiny-disease", "tiny-bert"])
def test_residual_layer_norms_are_fused_for_cuda_only(tiny_bundles_dir: Path, bundle: str) -> None:
    directory = tiny_bundles_dir / bundle
    assert "SkipLayerNormalization" in _op_types(directory / "model.fp16.onnx")
    for cpu_graph in ("model.fp32.onnx", "model.int8.onnx"):
        assert "SkipLayerNormalization" not in _op_types(directory / cpu_graph)


@pytest.mark.parametrize("bundle", ["tiny-disease", "tiny-bert"])
def test_int8_products_carry_the_gelu_bias(tiny_bundles_dir: Path, bundle: str) -> None:
    """The int8 graph adds the intermediate bias in the product and runs a bias-less GELU."""
    int8 = onnx.load(str(tiny_bundles_dir / bundle / "model.int8.onnx"))
    gelus = [node for node in int8.graph.node if "Gelu" in node.op_type]
    assert gelus
    assert all(node.op_type in {"Gelu", "FastGelu"} and len(node.input) == 1 for node in gelus)
    fused = {
        n.op_type for n in onnx.load(str(tiny_bundles_dir / bundle / "model.fp32.onnx")).graph.node
    }
    assert fused & {"BiasGelu", "FastGelu"}  # fp32 keeps its fused GELU


def test_albert_bundle_records_lowercasing_and_attention_fusion(tiny_bundles_dir: Path) -> None:
    manifest = read_manifest(tiny_bundles_dir / "tiny-disease")
    assert manifest.lowercase is True
    assert manifest.fusion.get("Attention", 0) >= 1
    assert read_manifest(tiny_bundles_dir / "tiny-bert").lowercase is False


@pytest.mark.parametrize(("bundle", "kind"), [("tiny-disease", "albert"), ("tiny-bert", "bert")])
def test_graphs_match_pytorch_on_unseen_text(
    tiny_bundles_dir: Path, tiny_checkpoints, bundle: str, kind: str
) -> None:
    checkpoint = getattr(tiny_checkpoints, kind)
    tokenizer = AutoTokenizer.from_pretrained(str(checkpoint))
    model = AutoModelForTokenClassification.from_pretrained(str(checkpoint)).eval()
    encoded = tokenizer(NEW_TEXTS, padding=True, return_tensors="np")
    with torch.inference_mode():
        expected = model(**{k: torch.from_numpy(v) for k, v in encoded.items()}).logits.numpy()
    valid = encoded["attention_mask"].astype(bool)
    manifest = read_manifest(tiny_bundles_dir / bundle)
    for precision, graph in manifest.graphs.items():
        session = ort.InferenceSession(
            str(tiny_bundles_dir / bundle / graph.file), providers=["CPUExecutionProvider"]
        )
        # the graph takes exactly what the tokenizer gives
        assert {i.name for i in session.get_inputs()} == set(encoded)
        actual = session.run(["logits"], {k: v.astype(np.int64) for k, v in encoded.items()})[0]
        agreement = (actual.argmax(-1) == expected.argmax(-1))[valid].mean()
        if precision == "fp32":
            assert np.abs(actual - expected)[valid].max() <= 1e-3
        assert agreement >= 0.98, precision


def test_multi_head_checkpoint_exports_one_graph_with_sliced_heads(
    tiny_checkpoints, tmp_path: Path
) -> None:
    checkpoint = tmp_path / "two-heads"
    shutil.copytree(tiny_checkpoints.bert, checkpoint)
    model = AutoModelForTokenClassification.from_pretrained(str(checkpoint))
    classifier = model.classifier
    doubled = torch.nn.Linear(classifier.in_features, 6)
    with torch.no_grad():
        doubled.weight.copy_(torch.cat([classifier.weight, classifier.weight]))
        doubled.bias.copy_(torch.cat([classifier.bias, classifier.bias]))
    model.classifier = doubled
    labels = ["O", "B-Disease", "I-Disease"]
    model.config.num_labels = 6
    model.config.id2label = dict(enumerate(labels + labels))
    model.config.label2id = {
        f"{h}:{label}": i
        for i, (h, label) in enumerate([("a", x) for x in labels] + [("b", x) for x in labels])
    }
    model.config.biotag_heads = [
        {"name": "first", "labels": labels},
        {"name": "second", "labels": labels},
    ]
    model.save_pretrained(str(checkpoint))
    result = export_bundle(checkpoint, tmp_path / "bundles" / "pair", precisions=("fp32",))
    heads = result.manifest.heads
    assert [(h.name, h.logit_offset) for h in heads] == [("first", 0), ("second", 3)]
    assert result.manifest.num_logits == 6
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["biotag_heads"][1]["name"] == "second"


def test_bundle_tokenizer_neither_pads_nor_truncates(tiny_bundles_dir: Path) -> None:
    from tokenizers import Tokenizer

    for bundle in ("tiny-disease", "tiny-bert"):
        tokenizer = Tokenizer.from_file(str(tiny_bundles_dir / bundle / "tokenizer.json"))
        assert tokenizer.padding is None
        assert tokenizer.truncation is None
