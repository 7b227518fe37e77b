"""Documents -> tokens with character offsets -> windows the model can take.

A document is tokenised once, without special tokens, and cut at sentence boundaries into
windows of about a target length: attention costs grow with the square of a window's length,
so on the CPU a 310-token abstract runs faster as two or three windows of whole sentences than
as one (and the models are fine-tuned on sentences). A sentence longer than a whole window is cut
into overlapping windows; each of its tokens' predictions is later taken from the window where
it sits farthest from an edge, so an entity crossing a seam is seen with context, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from tokenizers import Tokenizer

from biotag.service.text.sentences import sentence_starts


@dataclass(frozen=True, slots=True)
class EncodedDocument:
    ids: np.ndarray  # (tokens,) int64
    offsets: np.ndarray  # (tokens, 2) int64, code points of the original text
    sentence_starts: list[int]  # ascending indices of the tokens that begin a sentence


@dataclass(frozen=True, slots=True)
class Window:
    start: int  # first document token in the window
    end: int  # one past the last
    keep_start: int  # tokens [keep_start, keep_end) take their prediction from this window
    keep_end: int


def plan_windows(n_tokens: int, capacity: int, stride: int) -> list[Window]:
    """Cover ``n_tokens`` with windows of at most ``capacity`` tokens sharing ``stride`` tokens.

    The last window is aligned to the end, so no window is a short tail; ownership of each
    overlap is split in its middle.
    """
    if capacity <= 0:
        raise ValueError("window capacity must be positive")
    if n_tokens <= capacity:
        return [Window(0, n_tokens, 0, n_tokens)]
    step = max(1, capacity - stride)
    starts = [*range(0, n_tokens - capacity, step), n_tokens - capacity]
    windows = []
    for index, start in enumerate(starts):
        end = start + capacity
        keep_start = 0 if index == 0 else (start + starts[index - 1] + capacity) // 2
        keep_end = n_tokens if index == len(starts) - 1 else (starts[index + 1] + end) // 2
        windows.append(Window(start, end, keep_start, keep_end))
    return windows


def plan_sentence_windows(
    n_tokens: int, sentence_starts: Sequence[int], capacity: int, target: int, stride: int
) -> list[Window]:
    """Windows of whole sentences, about ``target`` tokens long and at most ``capacity``.

    ``sentence_starts``: ascending token indices where a sentence begins. Consecutive
    sentences are grouped to minimise the sum over windows of (length² + target²): attention
    grows with the square of a window and every window costs a fixed run, so the cheapest
    length per token is ``target``. A sentence longer than ``capacity`` gets overlapping
    windows of its own (``plan_windows``). Every token is owned by exactly one window.
    """
    if n_tokens <= min(target, capacity):
        return [Window(0, n_tokens, 0, n_tokens)]
    cuts = [0, *(s for s in sentence_starts if 0 < s < n_tokens), n_tokens]
    windows: list[Window] = []
    run = [0]  # boundaries of consecutive sentences that each fit a window
    for start, end in pairwise(cuts):
        if end - start <= capacity:
            run.append(end)
            continue
        windows += _group_sentences(run, capacity, target)
        windows += [
            Window(start + w.start, start + w.end, start + w.keep_start, start + w.keep_end)
            for w in plan_windows(end - start, capacity, stride)
        ]
        run = [end]
    return windows + _group_sentences(run, capacity, target)


def _group_sentences(bounds: list[int], capacity: int, target: int) -> list[Window]:
    """Optimal grouping of the sentences between consecutive ``bounds`` (dynamic programme)."""
    if len(bounds) < 2:
        return []
    best = [0] + [-1] * (len(bounds) - 1)  # least cost of windows ending at each bound
    previous = [0] * len(bounds)
    fixed = target * target
    for j in range(1, len(bounds)):
        i = j - 1
        while i >= 0 and bounds[j] - bounds[i] <= capacity:
            cost = best[i] + (bounds[j] - bounds[i]) ** 2 + fixed
            if best[j] < 0 or cost < best[j]:
                best[j], previous[j] = cost, i
            i -= 1
    windows = []
    j = len(bounds) - 1
    while j > 0:
        start, end = bounds[previous[j]], bounds[j]
        windows.append(Window(start, end, start, end))
        j = previous[j]
    return windows[::-1]


class DocumentTokenizer:
    """A fast tokenizer that encodes whole documents and wraps windows in special tokens."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        tokenizer.no_truncation()
        tokenizer.no_padding()
        self._tokenizer = tokenizer
        self.prefix_ids, self.suffix_ids = _special_tokens(tokenizer)

    @classmethod
    def from_json(cls, serialized: str) -> DocumentTokenizer:
        return cls(Tokenizer.from_str(serialized))

    @property
    def special_count(self) -> int:
        return len(self.prefix_ids) + len(self.suffix_ids)

    def encode(self, texts: list[str]) -> list[EncodedDocument]:
        """Tokenise documents in one batch call (Rust threads, GIL released) and find where
        their sentences begin (once per tokenizer, whatever the bundles that share it)."""
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        documents = []
        for text, encoding in zip(texts, encodings, strict=True):
            offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
            documents.append(
                EncodedDocument(
                    ids=np.asarray(encoding.ids, dtype=np.int64),
                    offsets=offsets,
                    sentence_starts=sentence_starts(text, offsets).tolist(),
                )
            )
        return documents

    def window_ids(self, document: EncodedDocument, window: Window) -> np.ndarray:
        return np.concatenate(
            [self.prefix_ids, document.ids[window.start : window.end], self.suffix_ids]
        )


def _special_tokens(tokenizer: Tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """The ids the post-processor puts before and after a single sequence ([CLS] / [SEP])."""
    probe = "a b"
    plain = tokenizer.encode(probe, add_special_tokens=False).ids
    wrapped = tokenizer.encode(probe, add_special_tokens=True).ids
    for cut in range(len(wrapped) - len(plain) + 1):
        if wrapped[cut : cut + len(plain)] == plain:
            return (
                np.asarray(wrapped[:cut], dtype=np.int64),
                np.asarray(wrapped[cut + len(plain) :], dtype=np.int64),
            )
    raise ValueError("the tokenizer's post-processor changes the tokens of the text itself")
