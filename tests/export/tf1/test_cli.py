"""`biotag export / convert / inspect` on TF1 checkpoints, run as a user runs them.

The parity oracle is the TensorFlow forward pass of make_fixtures.py, stored with the
fixtures: the bundle's fp32 graph must reproduce TensorFlow's logits within 1e-4, with no
TensorFlow installed here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from biotag.bundle import read_manifest
from tests.export.tf1.paths import FIXTURES, PARITY, SPM, snappy_checkpoint
from tests.support.cli import error_lines, run_biotag

BIOBERT_ROWS = [1, 2, 3]  # B, I, O of [PAD] B I O X [CLS] [SEP]


def _export(source: Path, out: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return run_biotag(
        "export", str(source), str(out), "--spm-model", str(SPM), "--precision", "fp32", *flags
    )


def _bundle_logits(bundle: Path, input_ids: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(bundle / "model.fp32.onnx"))
    feeds = {
        "input_ids": input_ids[None],
        "attention_mask": np.ones_like(input_ids)[None],
        "token_type_ids": np.zeros_like(input_ids)[None],
    }
    names = {i.name for i in session.get_inputs()}
    return session.run(None, {k: v for k, v in feeds.items() if k in names})[0][0]


def _max_tf_difference(bundle: Path, fixture: str, rows: list[int]) -> float:
    ids, lengths = (
        np.load(PARITY / f"{fixture}-input_ids.npy"),
        np.load(PARITY / f"{fixture}-lengths.npy"),
    )
    expected = np.load(PARITY / f"{fixture}-logits.npy")
    worst = 0.0
    for i, length in enumerate(lengths):
        got = _bundle_logits(bundle, ids[i, :length])
        worst = max(worst, float(np.abs(got - expected[i, :length][:, rows]).max()))
    return worst


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fixture", "flags", "rows"),
    [
        ("ner", ["--entity-type", "Disease"], BIOBERT_ROWS),
        ("bf16", ["--entity-type", "Disease"], BIOBERT_ROWS),
        ("same-size", ["--entity-type", "Disease"], BIOBERT_ROWS),
        ("groups", ["--labels", "O,B-Disease,I-Disease"], [0, 1, 2]),
    ],
)
def test_bundle_logits_match_tensorflow(
    tmp_path: Path, fixture: str, flags: list[str], rows: list[int]
) -> None:
    out = tmp_path / "models" / f"bioalbert-{fixture}"
    result = _export(FIXTURES / fixture, out, *flags)
    assert result.returncode == 0, result.stderr
    manifest = read_manifest(out)
    (head,) = manifest.heads
    assert head.entity_types == ["Disease"]
    assert manifest.lowercase
    assert _max_tf_difference(out, fixture, rows) <= 1e-4
    described = run_biotag("inspect", str(out))
    assert f"biotag bundle bioalbert-{fixture} (AlbertForTokenClassification)" in described.stdout


@pytest.mark.slow
def test_snappy_index_checkpoint_exports(tmp_path: Path) -> None:
    source = snappy_checkpoint(tmp_path / "download")
    out = tmp_path / "models" / "bioalbert-disease"
    result = _export(source, out, "--entity-type", "Disease")
    assert result.returncode == 0, result.stderr
    assert read_manifest(out).heads[0].labels == ["B-Disease", "I-Disease", "O"]
    assert _max_tf_difference(out, "ner", BIOBERT_ROWS) <= 1e-4


@pytest.mark.slow
def test_bundle_tokenizer_is_the_albert_tokenizer(tmp_path: Path) -> None:
    """What transformers saves into the bundle still tokenizes like SentencePiece."""
    import sentencepiece as spm
    from tokenizers import Tokenizer

    from tests.export.tf1.albert_reference import encode_pieces, preprocess
    from tests.export.tf1.test_tokenizer import ADVERSARIAL

    out = tmp_path / "bundle"
    assert _export(FIXTURES / "ner", out, "--entity-type", "Disease").returncode == 0
    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    albert = spm.SentencePieceProcessor(model_file=str(SPM))
    for text in ADVERSARIAL:
        expected = [albert.piece_to_id(p) for p in encode_pieces(albert, preprocess(text))]
        assert tokenizer.encode(text, add_special_tokens=False).ids == expected, text


@pytest.mark.slow
def test_no_lowercase_is_recorded(tmp_path: Path) -> None:
    out = tmp_path / "cased"
    result = _export(FIXTURES / "ner", out, "--entity-type", "Disease", "--no-lowercase")
    assert result.returncode == 0, result.stderr
    assert not read_manifest(out).lowercase


def test_export_of_a_pretrained_checkpoint_is_refused_in_one_line(tmp_path: Path) -> None:
    result = _export(FIXTURES / "pretrained", tmp_path / "out")
    (line,) = error_lines(result)
    assert "nothing to serve" in line
    assert "biotag convert" in line
    assert not (tmp_path / "out").exists()


def test_convert_then_inspect_a_pretrained_checkpoint(tmp_path: Path) -> None:
    result = run_biotag(
        "convert", str(FIXTURES / "pretrained"), str(tmp_path / "hf"), "--spm-model", str(SPM)
    )
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["architectures"] == ["AlbertModel"]
    described = run_biotag("inspect", str(tmp_path / "hf"))
    assert "AlbertModel" in described.stdout
    assert "would refuse" in described.stdout  # not a token classifier


def test_inspect_a_snappy_tf1_index_without_data_or_config() -> None:
    result = run_biotag("inspect", str(FIXTURES / "ner-snappy"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Snappy-compressed" in out
    assert "vocabulary 1,000, embedding 8, hidden 16, FFN 32" in out
    assert (
        "3 layers in 1 group(s) of shared layers, 1 inner group(s) each, 4 attention heads" in out
    )
    assert "54 Adam slots" in out
    assert "output_weights [7, 16]" in out
    assert "would refuse" in out
    assert "pass --config" in out


def test_inspect_says_what_export_would_do() -> None:
    result = run_biotag(
        "inspect", str(FIXTURES / "ner"), "--spm-model", str(SPM), "--entity-type", "Disease"
    )
    assert result.returncode == 0, result.stderr
    assert (
        "would write an AlbertForTokenClassification bundle with labels B-Disease, I-Disease, O"
        in result.stdout
    )
