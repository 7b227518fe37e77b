"""The label list of a BioBERT-style NER head, and the rows of it biotag serves.

BioBERT's ``run_ner.py`` trains ``[PAD] B I O X [CLS] [SEP]``: ``X`` marks non-first
sub-tokens, the bracketed ones special positions. None of them is ever an entity label, and
the service decodes each word from its first sub-token, where BioBERT predicts B, I or O, so
only the entity and ``O`` rows of the classifier are kept (an argmax over B/I/O, which is what
BioBERT's own post-processing amounts to after it maps the others to O).
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path

from biotag.export.errors import ExportError
from biotag.labels import LabelError, detect_scheme, parse_label

NEVER_ENTITIES = frozenset({"[PAD]", "X", "[CLS]", "[SEP]"})
_UNTYPED = frozenset({"B", "I", "E", "S"})


class _PlainUnpickler(pickle.Unpickler):
    """Loads only data made of dict/str/int (no class, no function: no code can run)."""

    def find_class(self, module: str, name: str) -> type:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_label2id(path: Path) -> list[str]:
    """BioBERT's ``label2id.pkl`` ({label: id}) as labels in id order, read safely."""
    try:
        data = _PlainUnpickler(io.BytesIO(path.read_bytes())).load()
    except Exception as exc:  # any unpickling failure means "not a plain dict"
        raise ExportError(f"{path} is not a plain label->id pickle: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and type(v) is int for k, v in data.items()
    ):
        raise ExportError(f"{path} is not a plain dict of str -> int")
    if sorted(data.values()) != list(range(len(data))):
        raise ExportError(f"{path}: label ids are not 0..{len(data) - 1}")
    return sorted(data, key=data.__getitem__)


def parse_labels(value: str) -> list[str]:
    """``--labels``: a file (one label a line, or a label2id.pkl) or a comma-separated list."""
    path = Path(value)
    if path.is_file():
        if path.suffix == ".pkl":
            return read_label2id(path)
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    return [label.strip() for label in value.split(",") if label.strip()]


@dataclass(frozen=True)
class HeadLabels:
    trained: list[str]  # the classifier's rows, in training order
    rows: list[int]  # the rows kept
    labels: list[str]  # their labels as served (typed: B-Disease)


def head_labels(trained: list[str], entity_type: str | None) -> HeadLabels:
    """Keep O and the entity rows; give untyped B/I labels ``entity_type``."""
    if len(set(trained)) != len(trained):
        raise ExportError(f"labels {trained} repeat a label")
    rows, labels = [], []
    for row, label in enumerate(trained):
        if label in NEVER_ENTITIES:
            continue
        if label in _UNTYPED:
            if not entity_type:
                raise ExportError(
                    f"label {label!r} has no entity type: pass --entity-type (e.g. Disease)"
                )
            label = f"{label}-{entity_type}"
        rows.append(row)
        labels.append(label)
    try:
        for label in labels:
            parse_label(label)
        detect_scheme(labels)
    except LabelError as exc:
        raise ExportError(f"labels {trained}: {exc}") from exc
    return HeadLabels(trained=trained, rows=rows, labels=labels)
