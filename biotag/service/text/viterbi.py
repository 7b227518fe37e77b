"""The best label sequence a tagging scheme allows, from per-position label log-probabilities.

Argmax per position can produce sequences no scheme means: ``O I-X`` (an inside with nothing
to continue), ``B-Y I-X`` (an inside of another type) and, in IOBES, entities that never close.
Viterbi decoding picks instead the sequence with the highest total log-probability among those
the scheme allows (first-order constraints: which label may follow which, which may open and
which may close a sequence). Pure numpy.

BIO: ``I-X`` only after ``B-X`` or ``I-X``, and never first. IOBES (BILOU's ``L``/``U`` read as
``E``/``S``): after ``B-X`` or ``I-X`` only ``I-X`` or ``E-X``; after ``O``, ``E-*`` or ``S-*``
only ``O``, ``B-*`` or ``S-*``; a sequence opens with ``O``, ``B`` or ``S`` and closes with
``O``, ``E`` or ``S``. IO: every sequence is allowed (Viterbi is argmax).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from biotag.labels import OUTSIDE, LabelScheme, detect_scheme, parse_label

# log(smallest normal float32): a probability that underflowed to 0 still ranks its sequences
_LOG_FLOOR = float(np.log(np.finfo(np.float32).tiny))


@dataclass(frozen=True)
class Transitions:
    """Which label may follow which, and which may open or close a sequence (label indices)."""

    allowed: np.ndarray  # (labels, labels) bool: allowed[previous, next]
    start: np.ndarray  # (labels,) bool
    end: np.ndarray  # (labels,) bool

    @property
    def unconstrained(self) -> bool:
        return bool(self.allowed.all() and self.start.all() and self.end.all())

    @cached_property
    def free(self) -> np.ndarray:
        """Labels that may follow any label (BIO: O and B-*)."""
        return np.asarray(self.allowed.all(axis=0))

    @cached_property
    def dominators(self) -> tuple[tuple[int, tuple[int, ...]], ...]:
        """Per label that not every label may precede, the labels that can stand in for it
        anywhere: allowed after, before, first and last wherever it is (BIO: B-X for I-X)."""
        count = len(self.start)
        found = []
        for label in np.flatnonzero(~self.free).tolist():
            others = [
                other
                for other in range(count)
                if other != label
                and (self.allowed[:, other] >= self.allowed[:, label]).all()
                and (self.allowed[other] >= self.allowed[label]).all()
                and self.start[other] >= self.start[label]
                and self.end[other] >= self.end[label]
            ]
            found.append((label, tuple(others)))
        return tuple(found)

    @classmethod
    def for_labels(cls, labels: Sequence[str], scheme: LabelScheme | None = None) -> Transitions:
        """The constraints of ``scheme`` (default: the one ``labels`` use) over ``labels``."""
        scheme = scheme or detect_scheme(list(labels))
        parsed = [parse_label(label) for label in labels]
        tags = [p.tag for p in parsed]
        types = [p.entity_type for p in parsed]
        count = len(labels)
        if scheme == LabelScheme.IO:
            everything = np.ones(count, dtype=bool)
            return cls(np.ones((count, count), dtype=bool), everything, everything.copy())
        allowed = np.zeros((count, count), dtype=bool)
        for previous in range(count):
            for following in range(count):
                allowed[previous, following] = _may_follow(
                    scheme, tags[previous], types[previous], tags[following], types[following]
                )
        start = np.array([tag in (OUTSIDE, "B", "S") for tag in tags])
        closing = (OUTSIDE, "E", "S") if scheme == LabelScheme.IOBES else tuple("OBIES")
        end = np.array([tag in closing for tag in tags])
        return cls(allowed, start, end)


def _may_follow(
    scheme: LabelScheme, previous_tag: str, previous_type: str, tag: str, entity_type: str
) -> bool:
    continues = tag in ("I", "E")
    if scheme == LabelScheme.BIO:
        # BIO has no E; a stray E (not a BIO label) is held to the rule of I
        return not continues or (previous_tag in ("B", "I") and previous_type == entity_type)
    inside = previous_tag in ("B", "I")
    return (continues and previous_type == entity_type) if inside else not continues


def is_allowed(path: np.ndarray, transitions: Transitions) -> bool:
    """Whether the label sequence ``path`` (label indices) obeys ``transitions``."""
    return len(_broken(path, transitions)) == 0


def _broken(path: np.ndarray, transitions: Transitions) -> np.ndarray:
    """Positions whose label the constraints do not allow where it stands."""
    if len(path) == 0:
        return np.zeros(0, dtype=np.intp)
    broken = np.ones(len(path), dtype=bool)
    broken[1:] = ~transitions.allowed[path[:-1], path[1:]]
    broken[0] = not transitions.start[path[0]]
    broken[-1] |= not transitions.end[path[-1]]
    return np.flatnonzero(broken)


def best_path(log_probabilities: np.ndarray, transitions: Transitions) -> np.ndarray:
    """Label indices (positions,) of the allowed sequence with the highest summed
    log-probability; ``log_probabilities`` is (positions, labels).

    Where the per-position argmax is allowed it is returned as is (it is then the best
    sequence). Otherwise the sequence is cut where a best sequence provably needs nothing from
    the label before (see ``_cuts``), and only the pieces holding a broken position are
    decoded, each exactly: in abstracts, a few words per broken entity instead of every word.
    """
    emissions = np.maximum(log_probabilities.astype(np.float64), _LOG_FLOOR)
    path: np.ndarray = emissions.argmax(axis=-1)
    broken = _broken(path, transitions)
    if len(broken) == 0:
        return path
    positions = len(path)
    bounds = np.concatenate(([0], _cuts(emissions, transitions), [positions]))
    for piece in np.unique(np.searchsorted(bounds, broken, side="right") - 1).tolist():
        first, stop = int(bounds[piece]), int(bounds[piece + 1])
        # a piece after a cut opens with a label any label may precede; only the last closes
        opening = transitions.start if first == 0 else transitions.free
        closing = transitions.end if stop == positions else np.ones_like(transitions.end)
        path[first:stop] = _viterbi(emissions[first:stop], transitions, opening, closing)
    return path


def _cuts(emissions: np.ndarray, transitions: Transitions) -> np.ndarray:
    """Positions (> 0) where a best sequence takes a label that any label may precede.

    A label L is beaten at a position by a label D that can stand in for it anywhere (allowed
    after, before, first and last wherever L is) and is at least as probable there: replacing
    L with D keeps any sequence allowed and loses nothing. Where every label that needs a
    particular predecessor is beaten, some best sequence needs nothing from the position before,
    so the pieces on either side can be decoded apart. Ties go to the lower label index, so two
    interchangeable labels never beat each other.
    """
    cut = np.ones(len(emissions), dtype=bool)
    for label, dominators in transitions.dominators:
        beaten = np.zeros(len(emissions), dtype=bool)
        for other in dominators:
            margin = emissions[:, other] - emissions[:, label]
            beaten |= (margin > 0) | ((margin == 0) & (other < label))
        cut &= beaten
    cut[0] = False
    return np.flatnonzero(cut)


def _viterbi(
    emissions: np.ndarray, transitions: Transitions, opening: np.ndarray, closing: np.ndarray
) -> np.ndarray:
    positions, labels = emissions.shape
    penalty = np.where(transitions.allowed, 0.0, -np.inf)
    scores = emissions[0] + np.where(opening, 0.0, -np.inf)
    back = np.zeros((positions, labels), dtype=np.intp)
    columns = np.arange(labels)
    for position in range(1, positions):
        candidates = scores[:, None] + penalty  # (previous, next)
        back[position] = candidates.argmax(axis=0)
        scores = candidates[back[position], columns] + emissions[position]
    scores = scores + np.where(closing, 0.0, -np.inf)
    if not np.isfinite(scores.max()):  # no sequence is allowed (a label list without O)
        result: np.ndarray = emissions.argmax(axis=-1)
        return result
    path = np.empty(positions, dtype=np.intp)
    label = int(scores.argmax())
    for position in range(positions - 1, -1, -1):
        path[position] = label
        label = int(back[position, label])
    return path
