"""The four token-classification heads and which corpora train and evaluate each of them.

The checkpoint's single classifier is the concatenation of the heads in ``HEADS`` order, so the
order here is part of the exporter's contract and must not change.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HeadSpec:
    """One head: a name and the single entity type it tags in BIO."""

    name: str
    entity_type: str

    @property
    def labels(self) -> tuple[str, str, str]:
        return ("O", f"B-{self.entity_type}", f"I-{self.entity_type}")


@dataclass(frozen=True)
class CorpusSpec:
    """A corpus folder and the heads its sentences train (and are evaluated on)."""

    folder: str
    heads: tuple[str, ...]


HEADS: tuple[HeadSpec, ...] = (
    HeadSpec("disease", "Disease"),
    HeadSpec("chemical", "Chemical"),
    HeadSpec("gene", "Gene"),
    HeadSpec("species", "Species"),
)

# A sentence contributes loss only to its own corpus's heads: an NCBI sentence mentioning a
# drug is not a negative example for the chemical head, because NCBI never annotated drugs.
NCBI = CorpusSpec("ncbi-disease", ("disease",))
BC5CDR = CorpusSpec("bc5cdr", ("disease", "chemical"))
BC5CDR_CHEMICAL_ONLY = CorpusSpec("bc5cdr", ("chemical",))
BC2GM = CorpusSpec("bc2gm", ("gene",))
LINNAEUS = CorpusSpec("linnaeus", ("species",))


def training_corpora(bc5cdr_disease: bool) -> tuple[CorpusSpec, ...]:
    """Training corpora; ``bc5cdr_disease=False`` is the NCBI-only disease ablation."""
    return (NCBI, BC5CDR if bc5cdr_disease else BC5CDR_CHEMICAL_ONLY, BC2GM, LINNAEUS)


# Devel corpora are always scored on every head they annotate, whatever trained the model.
DEVEL_CORPORA: tuple[CorpusSpec, ...] = (NCBI, BC5CDR, BC2GM, LINNAEUS)


def head_index(name: str) -> int:
    return [head.name for head in HEADS].index(name)


def head_slices() -> list[tuple[int, int]]:
    """``[start, stop)`` of each head's logits inside the concatenated classifier."""
    slices: list[tuple[int, int]] = []
    start = 0
    for head in HEADS:
        slices.append((start, start + len(head.labels)))
        start += len(head.labels)
    return slices


def eval_target_name(corpus: CorpusSpec, head: HeadSpec, split: str = "devel") -> str:
    """Metric key, e.g. ``bc5cdr/devel:Disease`` (``linnaeus/holdout:Species`` for the holdout)."""
    return f"{corpus.folder}/{split}:{head.entity_type}"
