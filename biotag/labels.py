"""Label schemes: detect BIO / IOBES / IO from a label list and split labels into tag and type.

Shared by the exporter (to write the manifest) and the service (to decode predictions).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class LabelScheme(StrEnum):
    BIO = "BIO"
    IOBES = "IOBES"
    IO = "IO"


OUTSIDE = "O"
_PREFIXES = ("B", "I", "E", "S", "L", "U")


class LabelError(ValueError):
    """The label list cannot be read as a tagging scheme."""


@dataclass(frozen=True, slots=True)
class ParsedLabel:
    tag: str  # one of O, B, I, E, S (BILOU's L/U are mapped to E/S)
    entity_type: str  # "" for O


def parse_label(label: str) -> ParsedLabel:
    """Split ``B-Disease`` / ``I_GENE`` / ``O`` into its tag and entity type."""
    if label == OUTSIDE:
        return ParsedLabel(OUTSIDE, "")
    for separator in ("-", "_"):
        prefix, sep, entity_type = label.partition(separator)
        if sep and prefix.upper() in _PREFIXES and entity_type:
            tag = {"L": "E", "U": "S"}.get(prefix.upper(), prefix.upper())
            return ParsedLabel(tag, entity_type)
    raise LabelError(f"label {label!r} is neither 'O' nor '<B|I|E|S>-<type>'")


def detect_scheme(labels: list[str]) -> LabelScheme:
    """The tagging scheme a label list uses; raises LabelError for lists no scheme explains."""
    if OUTSIDE not in labels:
        raise LabelError(f"no 'O' label among {labels}")
    tags = {parse_label(label).tag for label in labels}
    if tags & {"E", "S"}:
        return LabelScheme.IOBES
    if "B" in tags:
        return LabelScheme.BIO
    if tags == {OUTSIDE, "I"}:
        return LabelScheme.IO
    raise LabelError(f"labels {labels} have no entity tags")


def entity_types(labels: list[str]) -> list[str]:
    """Entity types in first-seen order."""
    seen: dict[str, None] = {}
    for label in labels:
        parsed = parse_label(label)
        if parsed.entity_type:
            seen.setdefault(parsed.entity_type, None)
    return list(seen)
