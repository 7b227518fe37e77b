"""Sentence starts: where a window may end without cutting a sentence in two."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from biotag.service.text.sentences import sentence_starts

_TOKEN = re.compile(r"\w+|[^\w\s]")


def _offsets(text: str) -> np.ndarray:
    """Word and punctuation tokens, as a BERT pre-tokenizer splits them."""
    spans = [match.span() for match in _TOKEN.finditer(text)]
    return np.asarray(spans, dtype=np.int64).reshape(-1, 2)


def _first_words(text: str) -> list[str]:
    offsets = _offsets(text)
    return [text[offsets[i, 0] : offsets[i, 1]] for i in sentence_starts(text, offsets)]


def test_sentences_begin_after_final_punctuation_and_line_breaks() -> None:
    text = (
        "BRCA1 mutations in breast cancer\n"
        "We studied 40 families. Is risk higher? Yes! (Table 1) shows carriers. 5 died."
    )
    assert _first_words(text) == ["We", "Is", "Yes", "(", "5"]


def test_abbreviations_and_initials_do_not_end_sentences() -> None:
    text = (
        "Smith et al. Reported E. coli sepsis, e.g. In neonates, vs. Controls (Fig. 2). "
        "The U.S. Cohort grew. Dr. Jones agreed."
    )
    assert _first_words(text) == ["The", "Dr"]


def test_a_lowercase_continuation_is_not_a_new_sentence() -> None:
    assert _first_words("Levels were 0.5 mM. p53 was not expressed. It fell.") == ["It"]


def test_text_without_boundaries_has_none() -> None:
    assert _first_words("cystic fibrosis") == []
    assert len(sentence_starts("", np.zeros((0, 2), dtype=np.int64))) == 0


@given(
    st.lists(
        st.sampled_from(["Aspirin", "E.", "coli", "et al.", ".", "!", "?", "\n", " ", "(", "5"]),
        max_size=60,
    ).map("".join)
)
def test_starts_are_ascending_tokens_after_a_boundary(text: str) -> None:
    offsets = _offsets(text)
    starts = sentence_starts(text, offsets)
    assert list(starts) == sorted(set(starts.tolist()))
    assert all(0 < i < len(offsets) for i in starts)
    for i in starts:
        before = text[: offsets[i, 0]].rstrip(" ")
        assert before.endswith(("\n", ".", "!", "?", ")")), (text, i)
