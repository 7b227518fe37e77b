"""``albert_config.json`` (google-research keys) -> Hugging Face ``AlbertConfig`` keys.

Hugging Face's ``AlbertConfig`` defaults are ALBERT-xxlarge's, so a key missing from the file
must never fall back on them: the sizes are required, and only keys whose google-research
default is harmless (dropouts, initializer range) may be absent.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from biotag.export.errors import ExportError
from biotag.export.tf1.names import Shapes

_REQUIRED = (
    "vocab_size",
    "embedding_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
)
# google-research modeling.AlbertConfig defaults for the rest
_DEFAULTS: dict[str, Any] = {
    "num_hidden_groups": 1,
    "inner_group_num": 1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
    "initializer_range": 0.02,
    "down_scale_factor": 1,
    "net_structure_type": 0,
    "gap_size": 0,
    "num_memory_blocks": 0,
    "layers_to_keep": [],
}
# ALBERT's activations (modeling.get_activation); its "gelu" is the tanh approximation
_ACTIVATIONS = {"gelu": "gelu_new", "relu": "relu", "tanh": "tanh", "linear": "linear"}
# BERT-only keys found in configs copied from BioBERT; they change nothing in ALBERT
_INERT = {
    "pooler_fc_size",
    "pooler_num_attention_heads",
    "pooler_num_fc_layers",
    "pooler_size_per_head",
    "pooler_type",
    "directionality",
}


def find_config(directory: Path, explicit: Path | None) -> Path:
    if explicit is not None:
        if not explicit.is_file():
            raise ExportError(f"config file {explicit} does not exist")
        return explicit
    for name in ("albert_config.json", "config.json"):
        if (directory / name).is_file():
            return directory / name
    raise ExportError(
        f"{directory} has no albert_config.json: pass --config (the file the model was "
        "trained with; its layer and head counts are not in the checkpoint)"
    )


def read_config(path: Path) -> dict[str, Any]:
    """The google-research config with its defaults filled in; unknown keys are refused."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ExportError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ExportError(f"{path} is not a JSON object")
    missing = [key for key in _REQUIRED if key not in raw]
    if missing:
        raise ExportError(
            f"{path} lacks {', '.join(missing)} (no default is safe: Hugging Face's are "
            "ALBERT-xxlarge's)"
        )
    unknown = sorted(set(raw) - set(_REQUIRED) - set(_DEFAULTS) - _INERT)
    if unknown:
        raise ExportError(f"{path} has key {unknown[0]!r}, which google-research ALBERT lacks")
    config = _DEFAULTS | raw
    if config["hidden_act"] not in _ACTIVATIONS:
        raise ExportError(
            f"{path}: hidden_act {config['hidden_act']!r} is not an ALBERT activation"
        )
    variants = {
        "net_structure_type": 0,
        "down_scale_factor": 1,
        "gap_size": 0,
        "num_memory_blocks": 0,
        "layers_to_keep": [],
    }
    for key, plain in variants.items():
        if config[key] != plain:
            raise ExportError(
                f"{path}: {key}={config[key]!r} is an experimental ALBERT variant that "
                "Hugging Face ALBERT cannot express"
            )
    if config["hidden_size"] % config["num_attention_heads"]:
        raise ExportError(f"{path}: hidden_size is not a multiple of num_attention_heads")
    return config


def shapes(config: dict[str, Any]) -> Shapes:
    return Shapes(
        vocab_size=int(config["vocab_size"]),
        embedding_size=int(config["embedding_size"]),
        hidden_size=int(config["hidden_size"]),
        intermediate_size=int(config["intermediate_size"]),
        max_position_embeddings=int(config["max_position_embeddings"]),
        type_vocab_size=int(config["type_vocab_size"]),
        num_hidden_groups=int(config["num_hidden_groups"]),
        inner_group_num=int(config["inner_group_num"]),
    )


def hf_config(config: dict[str, Any], architecture: str) -> dict[str, Any]:
    """Every key Hugging Face ALBERT reads, set from the google-research config."""
    keys = (*_REQUIRED, "num_hidden_groups", "inner_group_num", "initializer_range")
    return {
        "architectures": [architecture],
        "model_type": "albert",
        **{key: config[key] for key in keys},
        "hidden_act": _ACTIVATIONS[config["hidden_act"]],
        "hidden_dropout_prob": float(config["hidden_dropout_prob"]),
        "attention_probs_dropout_prob": float(config["attention_probs_dropout_prob"]),
        "classifier_dropout_prob": float(config["hidden_dropout_prob"]),
        "layer_norm_eps": 1e-12,  # contrib layer_norm's variance epsilon
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
    }
