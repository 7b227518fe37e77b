"""Read and validate a Hugging Face token-classification checkpoint folder."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biotag.bundle import Head
from biotag.export.errors import ExportError
from biotag.labels import LabelError, detect_scheme, entity_types

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
    "vocab.json",
)


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    architecture: str
    model_type: str
    heads: list[Head]
    sha256: str
    config: dict[str, Any]


def file_sha256(file: Path) -> str:
    with file.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def checkpoint_sha256(path: Path) -> str:
    """Hash of the files that determine the model's outputs (config and weights), in name order."""
    digest = hashlib.sha256()
    files = sorted(
        p
        for p in path.iterdir()
        if p.is_file() and (p.suffix in _WEIGHT_SUFFIXES or p.name == "config.json")
    )
    for file in files:
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def heads_from_config(config: dict[str, Any], default_name: str) -> list[Head]:
    """Heads from ``biotag_heads`` (multi-task checkpoints) or one head over ``id2label``."""
    id2label = config.get("id2label") or {}
    try:
        labels = [id2label[key] for key in sorted(id2label, key=int)]
    except (KeyError, ValueError) as exc:
        raise ExportError(f"config.json id2label is not indexed 0..N-1: {exc}") from exc
    if not labels:
        raise ExportError("config.json has no id2label: cannot tell the model's labels")
    declared = config.get("biotag_heads") or [{"name": default_name, "labels": labels}]
    heads: list[Head] = []
    offset = 0
    for entry in declared:
        head_labels = list(entry["labels"])
        try:
            heads.append(
                Head(
                    name=entry["name"],
                    labels=head_labels,
                    scheme=detect_scheme(head_labels),
                    entity_types=entity_types(head_labels),
                    logit_offset=offset,
                )
            )
        except (LabelError, ValueError) as exc:
            raise ExportError(f"head {entry.get('name')!r}: {exc}") from exc
        offset += len(head_labels)
    concatenated = [label for head in heads for label in head.labels]
    if concatenated != labels:
        raise ExportError(
            f"biotag_heads labels {concatenated} do not match config.json id2label {labels}"
        )
    return heads


def inspect_checkpoint(path: Path, default_name: str) -> CheckpointInfo:
    """Validate the folder without loading weights; every problem is an ExportError."""
    if not path.is_dir():
        raise ExportError(f"checkpoint folder {path} does not exist")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ExportError(f"{path} has no config.json: not a Hugging Face checkpoint")
    try:
        config = json.loads(config_file.read_text())
    except json.JSONDecodeError as exc:
        raise ExportError(f"{config_file} is not valid JSON: {exc}") from exc
    architectures = config.get("architectures") or []
    token_classifiers = [a for a in architectures if a.endswith("ForTokenClassification")]
    if not token_classifiers:
        raise ExportError(
            f"{path} is not a token-classification model (architectures: {architectures or 'none'})"
        )
    if not any(p.suffix in _WEIGHT_SUFFIXES for p in path.iterdir()):
        raise ExportError(f"{path} has no weights file (*.safetensors or *.bin)")
    if not any((path / name).is_file() for name in _TOKENIZER_FILES):
        raise ExportError(
            f"{path} has no tokenizer files ({', '.join(_TOKENIZER_FILES)}): save the tokenizer "
            "with the model"
        )
    return CheckpointInfo(
        path=path,
        architecture=token_classifiers[0],
        model_type=str(config.get("model_type", "")),
        heads=heads_from_config(config, default_name),
        sha256=checkpoint_sha256(path),
        config=config,
    )
