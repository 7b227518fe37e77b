"""Documents -> tokens with character offsets -> windows the model can take.

A document is tokenised once, without special tokens. A document longer than a window is
cut into overlapping windows; each token's prediction is later taken from the window where
it sits farthest from an edge, so an entity crossing a seam is seen with context, once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer


@dataclass(frozen=True, slots=True)
class EncodedDocument:
    ids: np.ndarray  # (tokens,) int64
    offsets: np.ndarray  # (tokens, 2) int64, code points of the original text


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
        """Tokenise documents in one batch call (Rust threads, GIL released)."""
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return [
            EncodedDocument(
                ids=np.asarray(encoding.ids, dtype=np.int64),
                offsets=np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2),
            )
            for encoding in encodings
        ]

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
