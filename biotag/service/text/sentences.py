"""Where sentences begin in a tokenised document: where a window may end without cutting one.

A heuristic for scientific prose, not a linguistic sentence splitter: a boundary is a line
break, or sentence-final punctuation followed by whitespace and a capital, digit or opening
bracket, unless the word before the period is an abbreviation ("et al.", "e.g.", "Fig.") or a
single letter ("E. coli", initials). A missed boundary only lets a window grow; a false one
costs the tokens beside it some context, never a token.
"""

from __future__ import annotations

import re

import numpy as np

# sentence-final punctuation (closing quotes / brackets may follow), whitespace, the next
# sentence's first character; or a line break
_BOUNDARY = re.compile(
    r"""([.!?])["'”’)\]]*\s+(?=[A-Z0-9("'“\[])"""
    r"|[\n\r\u2028\u2029]\s*(?=\S)"
)
_ABBREVIATION = re.compile(
    r"al|approx|ca|cf|dr|eq|figs?|mrs?|nos?|prof|refs?|resp|spp?|st|subsp|var|vol|vs", re.IGNORECASE
)
_DOTTED = re.compile(r"[A-Za-z]\.[A-Za-z]")  # "e.g", "i.e", "U.S"
_WORD_LOOKBACK = 24  # characters searched back from a period for the word it ends


def _ends_sentence(text: str, period: int) -> bool:
    """Whether the punctuation at ``period`` ends a sentence rather than an abbreviation."""
    if text[period] != ".":
        return True
    words = text[max(0, period - _WORD_LOOKBACK) : period].split()
    if not words:
        return True
    word = words[-1].lstrip("([\"'“")
    if len(word) == 1 and word.isalpha():
        return False
    return _ABBREVIATION.fullmatch(word) is None and _DOTTED.search(word) is None


def sentence_starts(text: str, offsets: np.ndarray) -> np.ndarray:
    """Indices of the tokens (never the first) that begin a sentence, ascending.

    ``offsets``: (tokens, 2) character offsets into ``text`` as the tokenizer gives them.
    """
    if len(offsets) < 2:
        return np.zeros(0, dtype=np.int64)
    positions = [
        match.end()
        for match in _BOUNDARY.finditer(text)
        if match.group(1) is None or _ends_sentence(text, match.start(1))
    ]
    if not positions:
        return np.zeros(0, dtype=np.int64)
    starts = np.searchsorted(offsets[:, 0], np.asarray(positions, dtype=np.int64))
    return np.unique(starts[(starts > 0) & (starts < len(offsets))]).astype(np.int64)
