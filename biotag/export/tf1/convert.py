"""A TF1 ALBERT checkpoint directory -> a Hugging Face ALBERT folder (no TensorFlow, no torch).

Everything that can be checked from the index, the config, the label list and the
SentencePiece model is checked before a weight is read (``plan``), so ``inspect`` and every
refusal need only the index; ``convert`` then reads each tensor once (its CRC32C verified) and
writes ``model.safetensors``, ``config.json`` and ``tokenizer.json``. ``export`` converts into
a temporary folder and hands it to the ordinary export path, so TF1 and Hugging Face
checkpoints share one ONNX export and one parity check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from biotag.export.errors import ExportError
from biotag.export.tf1 import config as tf1_config
from biotag.export.tf1 import labels as tf1_labels
from biotag.export.tf1 import names, tensorbundle, tokenizer

HeadKind = Literal["token-classification", "pre-training", "none"]
_FLOATS = ("float32", "float16", "bfloat16")


@dataclass(frozen=True)
class Tf1Options:
    """What a TF1 directory does not say by itself (the ``export``/``convert`` flags)."""

    config: Path | None = None
    spm_model: Path | None = None
    labels: list[str] | None = None
    entity_type: str | None = None
    lowercase: bool = True


@dataclass(frozen=True)
class Plan:
    directory: Path
    bundle: tensorbundle.Bundle
    config: dict[str, Any]
    head: HeadKind
    head_labels: tf1_labels.HeadLabels | None
    targets: dict[str, names.Target]  # canonical TF name -> HF key
    tf_names: dict[str, str]  # canonical TF name -> name in the checkpoint
    spm_model: Path
    architecture: str


def head_kind(variables: list[str]) -> HeadKind:
    if "output_weights" in variables or "output_bias" in variables:
        return "token-classification"
    if any(n.startswith(("cls/predictions/", "cls/seq_relationship/")) for n in variables):
        return "pre-training"
    return "none"


def find_spm_model(directory: Path, explicit: Path | None) -> Path:
    if explicit is not None:
        if not explicit.is_file():
            raise ExportError(f"SentencePiece model {explicit} does not exist")
        return explicit
    models = sorted(directory.glob("*.model"))
    if len(models) == 1:
        return models[0]
    found = f"several ({', '.join(m.name for m in models)})" if models else "no"
    raise ExportError(
        f"{directory} has {found} SentencePiece *.model files: pass --spm-model "
        "(ALBERT's 30k-clean.model)"
    )


def _labels(directory: Path, options: Tf1Options, rows: int) -> tf1_labels.HeadLabels:
    trained = options.labels
    if trained is None and (directory / "label2id.pkl").is_file():
        trained = tf1_labels.read_label2id(directory / "label2id.pkl")
    if trained is None:
        raise ExportError(
            "no label list: pass --labels in training order (BioBERT's run_ner.py: "
            "'[PAD],B,I,O,X,[CLS],[SEP]') or keep label2id.pkl beside the checkpoint"
        )
    if len(trained) != rows:
        raise ExportError(
            f"the head has {rows} outputs (output_weights [{rows}, H]) but the label list has "
            f"{len(trained)} ({','.join(trained)}): not the NER head those labels name (an "
            "ALBERT sequence classifier has the same variable names)"
        )
    return tf1_labels.head_labels(trained, options.entity_type)


def plan(directory: Path, options: Tf1Options, require_head: bool) -> Plan:
    """Check the checkpoint against its config, labels and tokenizer; reads no weight."""
    bundle = tensorbundle.open_bundle(tensorbundle.find_prefix(directory))
    source = bundle.prefix.name
    sliced = sorted(n for n, e in bundle.entries.items() if e.slices)
    if sliced:
        raise ExportError(
            f"variable {sliced[0]} is partitioned ({bundle.entries[sliced[0]].slices} slices); "
            "biotag reads unpartitioned checkpoints only (google-research ALBERT never "
            "partitions)"
        )
    names.refuse_keras_port([names.canonical(n) for n in bundle.entries], source)
    tf_names = {
        names.canonical(n): n for n in bundle.entries if not names.is_dropped(names.canonical(n))
    }
    head = head_kind([names.canonical(n) for n in bundle.entries])
    if require_head and head != "token-classification":
        what = "a pre-trained ALBERT (cls/predictions, cls/seq_relationship)"
        raise ExportError(
            f"{source} is {what if head == 'pre-training' else 'an ALBERT encoder'} with no "
            "NER head (output_weights/output_bias), so there is nothing to serve: fine-tune it "
            "first (`biotag convert` writes a Hugging Face folder to fine-tune)"
        )
    config = tf1_config.read_config(tf1_config.find_config(directory, options.config))
    for name, entry in bundle.entries.items():
        if names.canonical(name) in tf_names and entry.dtype not in _FLOATS:
            raise ExportError(f"variable {name} is {entry.dtype}; weights must be floats")
    head_labels = None
    if head == "token-classification":
        tf_names = {n: v for n, v in tf_names.items() if not n.startswith("bert/pooler/")}
        if "output_weights" not in tf_names:
            raise ExportError(f"{source} lacks variable output_weights beside its output_bias")
        rows = bundle.entries[tf_names["output_weights"]].shape[0]
        head_labels = _labels(directory, options, rows)
        architecture = "AlbertForTokenClassification"
    else:
        architecture = "AlbertModel"
    prefix = "albert." if head_labels else ""
    rows_count = len(head_labels.trained) if head_labels else None
    targets = names.expected_targets(
        tf1_config.shapes(config), rows_count, pooler=head_labels is None, prefix=prefix
    )
    present = {n: bundle.entries[v].shape for n, v in tf_names.items()}
    names.check_names(present, targets, source)
    spm_model = find_spm_model(directory, options.spm_model)
    pieces = len(tokenizer.read_model(spm_model).pieces)
    if pieces != config["vocab_size"]:
        raise ExportError(
            f"{spm_model.name} has {pieces} pieces but the model's vocabulary is "
            f"{config['vocab_size']}: not the SentencePiece model it was trained with"
        )
    return Plan(
        directory, bundle, config, head, head_labels, targets, tf_names, spm_model, architecture
    )


def _weights(p: Plan) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, target in p.targets.items():
        array = p.bundle.read(p.tf_names[name]).astype(np.float32)
        out[target.key] = np.ascontiguousarray(array.T if target.transpose else array)
    if p.head_labels is not None:  # keep the O and entity rows only (labels.py says why)
        rows = p.head_labels.rows
        out["classifier.weight"] = np.ascontiguousarray(out["classifier.weight"][rows])
        out["classifier.bias"] = np.ascontiguousarray(out["classifier.bias"][rows])
    e, h = p.config["embedding_size"], p.config["hidden_size"]
    if e == h:  # TF skips the projection; Hugging Face always has one: make it the identity
        prefix = "albert." if p.head_labels else ""
        out[f"{prefix}encoder.embedding_hidden_mapping_in.weight"] = np.eye(h, dtype=np.float32)
        out[f"{prefix}encoder.embedding_hidden_mapping_in.bias"] = np.zeros(h, np.float32)
    return out


def _hf_config(p: Plan, options: Tf1Options) -> dict[str, Any]:
    config = tf1_config.hf_config(p.config, p.architecture)
    if p.head_labels is not None:
        config["id2label"] = dict(enumerate(p.head_labels.labels))
        config["label2id"] = {label: i for i, label in enumerate(p.head_labels.labels)}
    config["biotag_tf1"] = {
        "checkpoint": p.bundle.prefix.name,
        "trained_labels": p.head_labels.trained if p.head_labels else None,
        "rows_kept": p.head_labels.rows if p.head_labels else None,
        "lowercase": options.lowercase,
        "sentencepiece_model": p.spm_model.name,
    }
    return config


def write_tokenizer(spm_model: Path, out_dir: Path, lowercase: bool, max_length: int) -> None:
    built = tokenizer.build_tokenizer(tokenizer.read_model(spm_model), lowercase)
    built.save(str(out_dir / "tokenizer.json"))
    settings = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": max_length,
        "do_lower_case": lowercase,
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "mask_token": "[MASK]",
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(settings, indent=2) + "\n")


def convert(directory: Path, out_dir: Path, options: Tf1Options, require_head: bool) -> Plan:
    """Write the Hugging Face folder; returns the plan it followed."""
    from safetensors.numpy import save_file

    p = plan(directory, options, require_head)
    missing = p.bundle.missing_data_files()
    if missing:
        raise ExportError(f"data shard {missing[0]} is missing")
    try:
        weights = _weights(p)
    finally:
        p.bundle.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(weights, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    config = _hf_config(p, options)
    (out_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    write_tokenizer(
        p.spm_model, out_dir, options.lowercase, int(p.config["max_position_embeddings"])
    )
    return p
