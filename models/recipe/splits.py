"""Which sentences train the model and which score it: train, devel, the LINNAEUS holdout.

A normal run trains on each corpus's train split and scores devel. ``final`` adds each corpus's
devel sentences to its training pool except its last ``guard_fraction``: that tail is never
trained on and scored as ``<corpus>/guard``, so publishing can compare int8 with fp32 on text the
final model has not seen (on its training text fp32 is near-perfect and the comparison says little
about unseen abstracts). ``linnaeus_holdout`` keeps a fixed 10% of LINNAEUS train documents out
of training and scores them as ``linnaeus/holdout``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from models.recipe.corpora import Sentence, read_split
from models.recipe.data import Example, encode, pack_neighbours
from models.recipe.heads import DEVEL_CORPORA, LINNAEUS, CorpusSpec, training_corpora
from models.recipe.holdout import linnaeus_held_out, split_documents
from models.recipe.report import GUARD_SPLIT, HOLDOUT_SPLIT

EVAL_MAX_LENGTH = 512  # devel sentences are scored whole (split only past BERT's 512 positions)
GUARD_FRACTION = 0.2


@dataclass(frozen=True)
class Pool:
    """One corpus's training chunks: all with an entity, a share ``keep`` of the others."""

    folder: str
    positives: list[Example]
    negatives: list[Example]
    keep: float


@dataclass(frozen=True)
class ScoredSet:
    corpus: CorpusSpec
    split: str  # "devel" or "holdout": the metric key's middle part
    sentences: list[Sentence]
    examples: list[Example]


def _limited(sentences: list[Sentence], limit: int | None) -> list[Sentence]:
    return sentences[:limit] if limit else sentences


def devel_parts(
    devel: list[Sentence], guard_fraction: float
) -> tuple[list[Sentence], list[Sentence]]:
    """``(trained on by a final run, its guard)``: the guard is the last ``guard_fraction`` of the
    sentences. A contiguous tail, because the files run document by document: at most one
    document is cut in two, where a random sentence sample would share every document's
    entities between the parts."""
    cut = len(devel) - round(guard_fraction * len(devel))
    return devel[:cut], devel[cut:]


def guard_sentences(
    data_dir: Path, folder: str, guard_fraction: float, limit_devel: int | None = None
) -> list[Sentence]:
    """The devel sentences of ``folder`` that a final run keeps out of training."""
    devel = _limited(read_split(data_dir, folder, "devel"), limit_devel)
    return devel_parts(devel, guard_fraction)[1]


def training_sentences(
    data_dir: Path,
    corpus: CorpusSpec,
    final: bool,
    linnaeus_holdout: bool,
    limit_train: int | None,
    limit_devel: int | None,
    guard_fraction: float = 0.0,
) -> list[Sentence]:
    train = read_split(data_dir, corpus.folder, "train")
    if linnaeus_holdout and corpus.folder == LINNAEUS.folder:
        # split whole documents before any --limit-train, so a smoke run keeps the same split
        train, _ = split_documents(train)
    sentences = _limited(train, limit_train)
    if final:
        devel = _limited(read_split(data_dir, corpus.folder, "devel"), limit_devel)
        sentences = sentences + devel_parts(devel, guard_fraction)[0]
    return sentences


def training_pools(
    data_dir: Path,
    folders: set[str],
    bc5cdr_disease: bool,
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
    keep: dict[str, float],
    final: bool,
    linnaeus_holdout: bool,
    limits: tuple[int | None, int | None],
    guard_fraction: float = 0.0,
    pack_share: float = 0.0,
    seed: int = 0,
) -> list[Pool]:
    """Each training corpus's chunks; with ``pack_share``, some runs of neighbouring sentences
    joined into one chunk (``pack_neighbours``, drawn from ``seed`` and the corpus alone, so a
    resumed run packs the same way)."""
    pools: list[Pool] = []
    for corpus in [c for c in training_corpora(bc5cdr_disease) if c.folder in folders]:
        sentences = training_sentences(
            data_dir, corpus, final, linnaeus_holdout, *limits, guard_fraction
        )
        chunks = encode(sentences, corpus, tokenizer, max_length, split_with_gold=True)
        packing = random.Random(f"{seed}/{corpus.folder}")
        chunks = pack_neighbours(chunks, max_length, pack_share, packing)
        positives = [c for c in chunks if any(v > 0 for row in c.labels for v in row)]
        negatives = [c for c in chunks if not any(v > 0 for row in c.labels for v in row)]
        pools.append(Pool(corpus.folder, positives, negatives, keep.get(corpus.folder, 1.0)))
    return pools


def scored_sets(
    data_dir: Path,
    folders: set[str],
    tokenizer: PreTrainedTokenizerBase,
    final: bool,
    linnaeus_holdout: bool,
    limit_devel: int | None,
    guard_fraction: float = 0.0,
) -> list[ScoredSet]:
    """Devel of every chosen corpus (its guard tail for ``final``, where it has one), then the
    LINNAEUS holdout if asked."""
    sets: list[tuple[CorpusSpec, str, list[Sentence]]] = []
    for corpus in [c for c in DEVEL_CORPORA if c.folder in folders]:
        if not final:
            devel = _limited(read_split(data_dir, corpus.folder, "devel"), limit_devel)
            sets.append((corpus, "devel", devel))
        elif guard_fraction > 0:
            guard = guard_sentences(data_dir, corpus.folder, guard_fraction, limit_devel)
            sets.append((corpus, GUARD_SPLIT, guard))
    if linnaeus_holdout:
        held_out = linnaeus_held_out(data_dir)
        sets.append((LINNAEUS, HOLDOUT_SPLIT, _limited(held_out, limit_devel)))
    return [
        ScoredSet(
            corpus,
            split,
            sentences,
            encode(sentences, corpus, tokenizer, EVAL_MAX_LENGTH, split_with_gold=False),
        )
        for corpus, split, sentences in sets
    ]


def epoch_sample(pools: list[Pool], rng: random.Random) -> list[Example]:
    """All chunks with an entity plus a fixed-size random share of entity-free ones.

    An exact count (not a coin per chunk) keeps every epoch the same length, so the LR schedule
    computed up front ends exactly at the last step. Redrawing per epoch shows the model more
    distinct negatives over the run than one fixed subsample would.
    """
    chosen: list[Example] = []
    for pool in pools:
        chosen.extend(pool.positives)
        chosen.extend(rng.sample(pool.negatives, round(pool.keep * len(pool.negatives))))
    return chosen
