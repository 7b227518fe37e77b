"""`biotag export` as a user runs it: default name, one-line errors with exit code 2."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from biotag.bundle import read_manifest
from tests.support.cli import error_lines, run_biotag

pytestmark = pytest.mark.slow


def _export(*args: str) -> subprocess.CompletedProcess[str]:
    return run_biotag("export", *args, timeout=600)


def _assert_one_line_error(result: subprocess.CompletedProcess[str]) -> None:
    assert len(error_lines(result)) == 1


def test_name_defaults_to_output_folder(tiny_checkpoints, tmp_path: Path) -> None:
    result = _export(
        str(tiny_checkpoints.albert), str(tmp_path / "out" / "tiny-disease"), "--precision", "fp32"
    )
    assert result.returncode == 0, result.stderr
    manifest = read_manifest(tmp_path / "out" / "tiny-disease")
    assert manifest.name == "tiny-disease"
    assert set(manifest.graphs) == {"fp32"}
    assert not (tmp_path / "out" / "tiny-disease" / "model.int8.onnx").exists()


def test_missing_folder(tmp_path: Path) -> None:
    _assert_one_line_error(_export(str(tmp_path / "nowhere"), str(tmp_path / "out")))


def test_not_a_token_classifier(tiny_checkpoints, tmp_path: Path) -> None:
    checkpoint = tmp_path / "mlm"
    shutil.copytree(tiny_checkpoints.albert, checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    config["architectures"] = ["AlbertForMaskedLM"]
    (checkpoint / "config.json").write_text(json.dumps(config))
    result = _export(str(checkpoint), str(tmp_path / "out"))
    _assert_one_line_error(result)
    assert "token-classification" in result.stderr


def test_checkpoint_without_a_fast_tokenizer(tiny_checkpoints, tmp_path: Path) -> None:
    checkpoint = tmp_path / "no-tokenizer"
    checkpoint.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_checkpoints.bert / name, checkpoint / name)
    result = _export(str(checkpoint), str(tmp_path / "out"))
    _assert_one_line_error(result)
    assert "tokenizer" in result.stderr


def test_unknown_precision(tiny_checkpoints, tmp_path: Path) -> None:
    _assert_one_line_error(
        _export(str(tiny_checkpoints.bert), str(tmp_path / "out"), "--precision", "int4")
    )


def test_a_variant_failing_parity_is_left_out(
    tiny_checkpoints, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from biotag.cli import app
    from biotag.export import parity

    monkeypatch.setattr(parity, "REDUCED_PRECISION_MIN_AGREEMENT", 1.01)  # nothing reduced passes
    runner = CliRunner()
    explicit = runner.invoke(
        app,
        [
            "export",
            str(tiny_checkpoints.bert),
            str(tmp_path / "a"),
            "--precision",
            "fp32",
            "--precision",
            "int8",
        ],
    )
    assert explicit.exit_code == 1
    assert "error: int8 failed its parity check" in explicit.output
    assert set(read_manifest(tmp_path / "a").graphs) == {"fp32"}

    default = runner.invoke(app, ["export", str(tiny_checkpoints.bert), str(tmp_path / "b")])
    assert default.exit_code == 0
    assert "warning: int8 failed its parity check" in default.output
    assert set(read_manifest(tmp_path / "b").graphs) == {"fp32"}


def _int8_weight_extremes(graph: Path) -> int:
    """Largest |value| over the graph's int8 weight tensors."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(graph))
    weights = [
        numpy_helper.to_array(tensor)
        for tensor in model.graph.initializer
        if tensor.data_type == onnx.TensorProto.INT8 and len(tensor.dims) == 2
    ]
    return max(int(np.abs(w.astype(np.int16)).max()) for w in weights)


def test_int8_weights_are_full_range_unless_reduced_for_cpus_without_vnni(
    tiny_checkpoints, tmp_path: Path
) -> None:
    for flag, bits, largest in (([], 8, 127), (["--int8-reduce-range"], 7, 64)):
        out = tmp_path / f"bits{bits}"
        result = _export(str(tiny_checkpoints.bert), str(out), "--precision", "int8", *flag)
        assert result.returncode == 0, result.stderr
        graph = read_manifest(out).graphs["int8"]
        assert graph.weight_bits == bits
        assert _int8_weight_extremes(out / graph.file) in (largest - 1, largest)


def test_int8_float_layers_keep_those_encoder_layers_out_of_quantization(
    tiny_checkpoints, tmp_path: Path
) -> None:
    import onnx

    out = tmp_path / "first-float"
    result = _export(str(tiny_checkpoints.bert), str(out), "--int8-float-layer", "0")
    assert result.returncode == 0, result.stderr
    manifest = read_manifest(out)
    assert manifest.graphs["int8"].float_layers == [0]
    assert manifest.graphs["fp32"].float_layers == []
    nodes = onnx.load(str(out / manifest.graphs["int8"].file)).graph.node
    ops = [node.op_type for node in nodes]
    # two layers: the first stays float, the second is quantized
    assert (ops.count("Attention"), ops.count("QAttention")) == (1, 1)
    # the first layer's three float MatMuls, and the classifier's
    assert ops.count("MatMul") == 4
    assert ops.index("Attention") < ops.index("QAttention")
    assert manifest.graphs["int8"].parity is not None
    assert manifest.graphs["int8"].parity.passed

    missing = _export(str(tiny_checkpoints.bert), str(tmp_path / "none"), "--int8-float-layer", "2")
    assert missing.returncode == 2
    _assert_one_line_error(missing)
    assert "no encoder layer 2: the graph has 2" in missing.stdout + missing.stderr
