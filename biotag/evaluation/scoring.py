"""Exact-match entity scoring: a prediction is correct only with the gold start, end and type.

Micro-averaged over the whole dataset (the figures seqeval and the shared tasks report), and
per entity type. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """An entity as character offsets into its document (end exclusive) and a type."""

    start: int
    end: int
    type: str


@dataclass(frozen=True, slots=True)
class Counts:
    gold: int = 0
    predicted: int = 0
    correct: int = 0

    # An empty denominator scores 0, as seqeval does (it only adds a warning).
    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.gold + other.gold,
            self.predicted + other.predicted,
            self.correct + other.correct,
        )

    def as_dict(self) -> dict[str, float | int]:
        return {
            "gold": self.gold,
            "predicted": self.predicted,
            "correct": self.correct,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


@dataclass(frozen=True)
class Score:
    per_type: dict[str, Counts]  # sorted by type name
    micro: Counts


def count_document(gold: Iterable[Span], predicted: Iterable[Span]) -> dict[str, Counts]:
    """Counts per type for one document.

    Spans are compared as sets: a span predicted twice (e.g. by two models of the same type)
    is one prediction, and a mention listed twice in a gold file is one gold entity.
    """
    gold_set = set(gold)
    predicted_set = set(predicted)
    correct = gold_set & predicted_set
    return {
        entity_type: Counts(
            gold=sum(span.type == entity_type for span in gold_set),
            predicted=sum(span.type == entity_type for span in predicted_set),
            correct=sum(span.type == entity_type for span in correct),
        )
        for entity_type in {span.type for span in gold_set | predicted_set}
    }


def score(
    gold: Iterable[Iterable[Span]],
    predicted: Iterable[Iterable[Span]],
    types: Iterable[str] = (),
) -> Score:
    """Micro and per-type figures over parallel sequences of documents.

    ``types`` are listed even when no gold or predicted span has them, so a model that finds
    nothing of its type still shows a row of zeros.
    """
    totals: dict[str, Counts] = dict.fromkeys(types, Counts())
    for gold_spans, predicted_spans in zip(gold, predicted, strict=True):
        for entity_type, counts in count_document(gold_spans, predicted_spans).items():
            totals[entity_type] = totals.get(entity_type, Counts()) + counts
    micro = sum(totals.values(), Counts())
    return Score(per_type=dict(sorted(totals.items())), micro=micro)
