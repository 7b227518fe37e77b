"""Token probabilities -> word labels -> scored entity spans with exact character offsets.

Pure functions over numpy arrays. Word boundaries come from the text and the tokenizer's
offsets, never from sub-word markers (``##`` does not exist in SentencePiece): a word is a run
of letters, digits and combining marks, or any other single non-space character, which is how
the biomedical corpora and BERT's basic tokenizer split text. A word takes the label
probabilities of the first token covering its first character (training labels only that
sub-word), and the words of a document take the best label sequence their head's scheme allows
(``viterbi``) or each its most probable label (``argmax``). An entity whose first word is
joined to the word before it by a hyphen or slash ("non-papillary carcinoma",
"N-acetylcysteine") takes that prefix in; a suffix ("cisplatin-induced") stays out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from biotag.labels import parse_label
from biotag.service.text.viterbi import Transitions, best_path

Decoding = Literal["viterbi", "argmax"]

_COMBINING_MARKS = (
    "\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f"
    "\u0900-\u0903\u093a-\u094f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
_COMBINING = re.compile(f"[{_COMBINING_MARKS}]")
_JOINERS = frozenset("-‐‑/")
_TAG_CODES = {"O": 0, "B": 1, "I": 2, "E": 3, "S": 4}
OUT, BEGIN, INSIDE, END, SINGLE = range(5)
_TINY = np.finfo(np.float32).tiny  # floor of probabilities before their log (no log(0))


@dataclass(frozen=True, slots=True)
class ScoredSpan:
    start: int
    end: int
    entity_type: str
    score: float


@dataclass(frozen=True)
class LabelTable:
    """A head's labels in array form: tag code and entity-type index per label column."""

    tags: np.ndarray  # (labels,) int, OUT/BEGIN/INSIDE/END/SINGLE
    type_index: np.ndarray  # (labels,) int, -1 for O
    type_names: tuple[str, ...]
    type_projection: np.ndarray  # (labels, types) float32, sums label probabilities per type
    transitions: Transitions  # what the scheme allows, for Viterbi decoding

    @classmethod
    def from_labels(cls, labels: list[str]) -> LabelTable:
        parsed = [parse_label(label) for label in labels]
        names = tuple(dict.fromkeys(p.entity_type for p in parsed if p.entity_type))
        type_index = np.array([names.index(p.entity_type) if p.entity_type else -1 for p in parsed])
        projection = np.zeros((len(labels), len(names)), dtype=np.float32)
        for column, index in enumerate(type_index):
            if index >= 0:
                projection[column, index] = 1.0
        tags = np.array([_TAG_CODES[p.tag] for p in parsed])
        return cls(
            tags=tags,
            type_index=type_index,
            type_names=names,
            type_projection=projection,
            transitions=Transitions.for_labels(labels),
        )


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted, dtype=np.float32)
    probabilities: np.ndarray = exp / exp.sum(axis=-1, keepdims=True)
    return probabilities


def segment_words(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) character offsets of the words of ``text``."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    is_word, is_space = _classify(codes)
    before = np.concatenate(([False], is_word[:-1]))
    after = np.concatenate((is_word[1:], [False]))
    run_starts = np.flatnonzero(is_word & ~before)
    run_ends = np.flatnonzero(is_word & ~after) + 1
    marks = np.flatnonzero(~is_word & ~is_space)
    starts = np.concatenate((run_starts, marks))
    order = np.argsort(starts, kind="stable")
    return starts[order].astype(np.int64), np.concatenate((run_ends, marks + 1))[order]


def _is_word_char(char: str) -> bool:
    return char.isalnum() or _COMBINING.fullmatch(char) is not None


_ASCII_WORD = np.array([_is_word_char(chr(code)) for code in range(128)])
_ASCII_SPACE = np.array([chr(code).isspace() for code in range(128)])


def _classify(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Word character / whitespace flags per code point: a table for ASCII, str methods once
    per distinct other code point."""
    ascii_codes = np.minimum(codes, 127)
    is_word, is_space = _ASCII_WORD[ascii_codes], _ASCII_SPACE[ascii_codes]
    other = np.flatnonzero(codes > 127)
    if len(other):
        distinct, inverse = np.unique(codes[other], return_inverse=True)
        chars = [chr(code) for code in distinct.tolist()]
        is_word[other] = np.array([_is_word_char(c) for c in chars])[inverse]
        is_space[other] = np.array([c.isspace() for c in chars])[inverse]
    return is_word, is_space


def first_token_of_words(word_starts: np.ndarray, token_offsets: np.ndarray) -> np.ndarray:
    """Index of the first token covering each word's first character, -1 where none does.

    ``token_offsets`` (tokens, 2) are in text order; zero-width tokens are ignored. Several
    tokens can share one character span (a ligature expanded by normalisation): the first wins.
    """
    if len(token_offsets) == 0 or len(word_starts) == 0:
        return np.full(len(word_starts), -1, dtype=np.int64)
    starts, ends = token_offsets[:, 0], token_offsets[:, 1]
    real = np.flatnonzero(ends > starts)
    if len(real) == 0:
        return np.full(len(word_starts), -1, dtype=np.int64)
    real_starts, real_ends = starts[real], ends[real]
    position = np.searchsorted(real_starts, word_starts, side="right") - 1
    position = np.maximum(position, 0)
    # step back to the first token with the same start (shared spans)
    position = np.searchsorted(real_starts, real_starts[position], side="left")
    covered = (real_starts[position] <= word_starts) & (word_starts < real_ends[position])
    return np.where(covered, real[position], -1)


def _entity_runs(tags: np.ndarray, types: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) word positions of entities, repairing invalid sequences.

    An I- (or E-) that does not continue an entity of its type opens a new one; a B- always
    opens one; an E- or S- closes it.
    """
    runs: list[tuple[int, int]] = []
    open_first = -1
    open_type = -1
    previous = -2
    for position in np.flatnonzero(tags != OUT).tolist():
        tag, entity_type = int(tags[position]), int(types[position])
        continues = (
            open_first >= 0
            and previous == position - 1
            and entity_type == open_type
            and tag in (INSIDE, END)
        )
        if not continues:
            if open_first >= 0:
                runs.append((open_first, previous))
            open_first, open_type = position, entity_type
        previous = position
        if tag in (END, SINGLE):
            runs.append((open_first, position))
            open_first = -1
    if open_first >= 0:
        runs.append((open_first, previous))
    return runs


@dataclass(frozen=True)
class Words:
    """A document's words that some token covers, and that token: shared by every head."""

    starts: np.ndarray
    ends: np.ndarray
    first_tokens: np.ndarray


def index_words(text: str, token_offsets: np.ndarray) -> Words:
    starts, ends = segment_words(text)
    first_tokens = first_token_of_words(starts, token_offsets)
    covered = first_tokens >= 0
    return Words(starts[covered], ends[covered], first_tokens[covered])


def word_labels(
    word_probabilities: np.ndarray, table: LabelTable, decoding: Decoding
) -> np.ndarray:
    """Label index per word: the scheme's best allowed sequence over the whole document (its
    windows are already merged, so no seam breaks it), or each word's argmax."""
    if decoding == "argmax":
        labels: np.ndarray = word_probabilities.argmax(axis=-1)
        return labels
    return best_path(np.log(np.maximum(word_probabilities, _TINY)), table.transitions)


def decode_words(
    text: str, words: Words, probabilities: np.ndarray, table: LabelTable, decoding: Decoding
) -> list[ScoredSpan]:
    """Entities of one document from its words and its tokens' label probabilities.

    The score of an entity is the mean, over its words, of the probability of its type
    (summed over that type's B/I/E/S labels).
    """
    word_probabilities = probabilities[words.first_tokens]
    if len(word_probabilities) == 0:
        return []
    labels = word_labels(word_probabilities, table, decoding)
    types = table.type_index[labels]
    runs = _with_prefixes(
        text, words.starts, words.ends, types, _entity_runs(table.tags[labels], types)
    )
    if not runs:
        return []
    firsts, lasts = np.array(runs, dtype=np.int64).T
    entity_types = types[lasts]
    type_probabilities = word_probabilities @ table.type_projection
    totals = np.cumsum(type_probabilities, axis=0, dtype=np.float64)
    totals = np.concatenate((np.zeros((1, totals.shape[1])), totals))
    scores = (totals[lasts + 1, entity_types] - totals[firsts, entity_types]) / (lasts - firsts + 1)
    return [
        ScoredSpan(start, end, table.type_names[entity_type], min(1.0, max(0.0, score)))
        for start, end, entity_type, score in zip(
            words.starts[firsts].tolist(),
            words.ends[lasts].tolist(),
            entity_types.tolist(),
            scores.tolist(),
            strict=True,
        )
    ]


def _with_prefixes(
    text: str,
    starts: np.ndarray,
    ends: np.ndarray,
    types: np.ndarray,
    runs: list[tuple[int, int]],
) -> list[tuple[int, int]]:
    """Runs grown over joined prefixes; a run reaching the previous one of its type merges."""
    grown: list[tuple[int, int]] = []
    for first, last in runs:
        start = first
        while (
            start >= 2
            and text[starts[start - 1] : ends[start - 1]] in _JOINERS
            and ends[start - 1] == starts[start]
            and ends[start - 2] == starts[start - 1]
            and text[starts[start - 2]].isalnum()
        ):
            start -= 2
        if grown and start <= grown[-1][1]:
            if types[grown[-1][1]] != types[last]:
                grown.append((first, last))  # another type's entity: no prefix to take
                continue
            start = grown.pop()[0]
        grown.append((start, last))
    return grown
