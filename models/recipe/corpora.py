"""Read the IOB corpora and turn BIO tag sequences into entity spans.

The corpora live outside the repository (``../shared/data/bioner/`` from the repo root) and are
read in place; nothing here writes or copies them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO_ROOT / ".." / "shared" / "data" / "bioner"

# The corpora spell entity types differently from the heads; BC2GM says GENE.
TYPE_ALIASES: dict[str, str] = {"GENE": "Gene"}

Span = tuple[int, int, str]  # (first word, one past the last word, entity type)


@dataclass(frozen=True)
class Sentence:
    """One pre-split sentence with one normalised BIO tag per token."""

    tokens: tuple[str, ...]
    tags: tuple[str, ...]


def normalise_tag(tag: str) -> str:
    """Map a corpus tag to the head's spelling (``B-GENE`` -> ``B-Gene``)."""
    if tag == "O":
        return tag
    prefix, sep, entity_type = tag.partition("-")
    if not sep or prefix not in {"B", "I"} or not entity_type:
        raise ValueError(f"not a BIO tag: {tag!r}")
    return f"{prefix}-{TYPE_ALIASES.get(entity_type, entity_type)}"


def read_iob(path: Path) -> list[Sentence]:
    """Read a ``token<TAB>tag`` file where a blank line ends a sentence."""
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for lineno, raw in enumerate(handle, start=1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if tokens:
                    sentences.append(Sentence(tuple(tokens), tuple(tags)))
                    tokens, tags = [], []
                continue
            fields = line.split("\t")
            if len(fields) != 2:
                raise ValueError(f"{path}:{lineno}: expected token<TAB>tag, got {line!r}")
            tokens.append(fields[0])
            tags.append(normalise_tag(fields[1]))
    if tokens:  # a file need not end with a blank line
        sentences.append(Sentence(tuple(tokens), tuple(tags)))
    return sentences


def read_split(data_dir: Path, folder: str, split: str) -> list[Sentence]:
    """``data_dir/folder/split.tsv``, with a hint at ``--data-dir`` when it is missing."""
    path = data_dir / folder / f"{split}.tsv"
    if not path.is_file():
        raise FileNotFoundError(f"missing corpus file {path}; see --data-dir")
    return read_iob(path)


def repair_bio(tags: list[str] | tuple[str, ...]) -> list[str]:
    """Turn an ``I-X`` that does not continue an ``X`` entity into ``B-X``.

    Models (and a few corpus lines) emit ``I-X`` after ``O``; seqeval's default mode reads such a
    tag as the start of an entity, and so do we, so predictions and gold are compared alike.
    """
    repaired: list[str] = []
    previous_type: str | None = None
    for tag in tags:
        if tag == "O":
            repaired.append(tag)
            previous_type = None
            continue
        prefix, _, entity_type = tag.partition("-")
        if prefix == "I" and previous_type != entity_type:
            prefix = "B"
        repaired.append(f"{prefix}-{entity_type}")
        previous_type = entity_type
    return repaired


def project(tags: tuple[str, ...], entity_type: str) -> list[str]:
    """Keep only ``entity_type`` (other types become ``O``), e.g. BC5CDR Disease for one head."""
    kept = [tag if tag != "O" and tag[2:] == entity_type else "O" for tag in tags]
    return repair_bio(kept)


def spans(tags: list[str] | tuple[str, ...]) -> set[Span]:
    """Entity spans of a BIO sequence (repaired first, so any ``I-X`` can open an entity)."""
    found: set[Span] = set()
    start: int | None = None
    current: str | None = None
    for index, tag in enumerate([*repair_bio(tags), "O"]):
        if current is not None and (tag == "O" or tag.startswith("B-") or tag[2:] != current):
            assert start is not None
            found.add((start, index, current))
            start, current = None, None
        if tag != "O" and current is None:
            start, current = index, tag[2:]
    return found


def has_entity(sentence: Sentence) -> bool:
    """Whether any token is inside an entity (used to subsample entity-free sentences)."""
    return any(tag != "O" for tag in sentence.tags)
