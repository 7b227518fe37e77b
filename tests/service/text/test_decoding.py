"""Word labels and spans from token probabilities: hand-made cases and offset invariants."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from biotag.service.text.decoding import (
    Decoding,
    LabelTable,
    ScoredSpan,
    decode_words,
    first_token_of_words,
    index_words,
    segment_words,
    softmax,
)

BIO = ["O", "B-Disease", "I-Disease"]
TABLE = LabelTable.from_labels(BIO)


def decode_spans(
    text: str,
    token_offsets: np.ndarray,
    probabilities: np.ndarray,
    table: LabelTable,
    decoding: Decoding = "viterbi",
) -> list[ScoredSpan]:
    return decode_words(text, index_words(text, token_offsets), probabilities, table, decoding)


def _probabilities(labels: list[int], n_labels: int = 3, confidence: float = 0.9) -> np.ndarray:
    rest = (1.0 - confidence) / (n_labels - 1)
    probabilities = np.full((len(labels), n_labels), rest, dtype=np.float32)
    probabilities[np.arange(len(labels)), labels] = confidence
    return probabilities


def _spans(
    text: str,
    offsets: list[tuple[int, int]],
    labels: list[int],
    table: LabelTable = TABLE,
    decoding: Decoding = "viterbi",
) -> list[tuple[str, str]]:
    spans = decode_spans(
        text,
        np.array(offsets).reshape(-1, 2),
        _probabilities(labels, len(table.tags)),
        table,
        decoding,
    )
    return [(text[s.start : s.end], s.entity_type) for s in spans]


def test_words_split_on_punctuation_and_keep_combining_marks() -> None:
    text = "TNF-α (Me\u0301nie\u0300re) ﬁbrosis, 5-FU"
    starts, ends = segment_words(text)
    words = [text[s:e] for s, e in zip(starts, ends, strict=True)]
    assert words == [
        "TNF",
        "-",
        "α",
        "(",
        "Me\u0301nie\u0300re",
        ")",
        "ﬁbrosis",
        ",",
        "5",
        "-",
        "FU",
    ]


# the definition of a word, as a regular expression: runs of letters, digits and the combining
# marks the tokenizers keep with their letter; any other non-space character alone
_WORD_DEFINITION = re.compile(
    "(?:[^\\W_]|[\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f"
    "\u0900-\u0903\u093a-\u094f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f])+|\\S"
)


@given(
    st.text(
        alphabet=st.one_of(
            st.characters(codec="utf-8"),
            st.sampled_from(" -/()\u0301\u00a0\u2009\u3000_\tαβ5é"),
        ),
        max_size=80,
    )
)
def test_words_are_exactly_the_definitions_matches(text: str) -> None:
    starts, ends = segment_words(text)
    expected = [match.span() for match in _WORD_DEFINITION.finditer(text)]
    assert list(zip(starts.tolist(), ends.tolist(), strict=True)) == expected


def test_entities_take_joined_prefixes_but_not_suffixes() -> None:
    text = "non-papillary carcinoma after cisplatin-induced (N-acetylcysteine) damage"
    starts, ends = segment_words(text)
    words = [text[s:e] for s, e in zip(starts, ends, strict=True)]
    labels = {"papillary": 1, "carcinoma": 2, "cisplatin": 1, "acetylcysteine": 1}
    offsets = list(zip(starts.tolist(), ends.tolist(), strict=True))
    found = _spans(text, offsets, [labels.get(word, 0) for word in words])
    assert found == [
        ("non-papillary carcinoma", "Disease"),
        ("cisplatin", "Disease"),
        ("N-acetylcysteine", "Disease"),
    ]


def test_a_prefix_reaching_the_previous_entity_merges_with_it() -> None:
    text = "breast-ovarian cancer"
    offsets = [(0, 6), (6, 7), (7, 14), (15, 21)]
    assert _spans(text, offsets, [1, 0, 1, 2]) == [("breast-ovarian cancer", "Disease")]


def test_subwords_take_the_label_of_the_first_piece() -> None:
    text = "Patients with neurofibromatosis"
    # WordPiece: neuro ##fibro ##matosis — only the first piece's label counts
    offsets = [(0, 8), (9, 13), (14, 19), (19, 24), (24, 31)]
    assert _spans(text, offsets, [0, 0, 1, 0, 0]) == [("neurofibromatosis", "Disease")]


def test_sentencepiece_leading_space_offsets_are_trimmed() -> None:
    text = "of  cystic fibrosis"
    # SentencePiece offsets of "▁cystic" include the space before the word
    offsets = [(0, 2), (3, 10), (10, 19)]
    assert _spans(text, offsets, [0, 1, 2]) == [("cystic fibrosis", "Disease")]


def test_argmax_lets_i_after_o_open_an_entity() -> None:
    text = "the breast cancer risk"
    offsets = [(0, 3), (4, 10), (11, 17), (18, 22)]
    assert _spans(text, offsets, [0, 0, 2, 0], decoding="argmax") == [("cancer", "Disease")]


def test_viterbi_opens_the_entity_where_the_probabilities_say() -> None:
    text = "the breast cancer risk"
    offsets = np.array([(0, 3), (4, 10), (11, 17), (18, 22)])
    # argmax O O I O; "breast" is nearly a beginning, so the entity starts there
    probabilities = np.array(
        [[0.9, 0.05, 0.05], [0.5, 0.45, 0.05], [0.2, 0.1, 0.7], [0.9, 0.05, 0.05]],
        dtype=np.float32,
    )
    found = {
        decoding: [
            text[s.start : s.end]
            for s in decode_spans(text, offsets, probabilities, TABLE, decoding)
        ]
        for decoding in ("argmax", "viterbi")
    }
    assert found == {"argmax": ["cancer"], "viterbi": ["breast cancer"]}


def test_b_after_b_splits_adjacent_entities() -> None:
    text = "cancer leukemia"
    assert _spans(text, [(0, 6), (7, 15)], [1, 1]) == [
        ("cancer", "Disease"),
        ("leukemia", "Disease"),
    ]


def test_argmax_lets_i_of_another_type_start_a_new_entity() -> None:
    labels = ["O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease"]
    table = LabelTable.from_labels(labels)
    text = "cisplatin nephrotoxicity"
    assert _spans(text, [(0, 9), (10, 24)], [1, 4], table, "argmax") == [
        ("cisplatin", "Chemical"),
        ("nephrotoxicity", "Disease"),
    ]


def test_iobes_single_and_end_close_entities() -> None:
    labels = ["O", "B-Gene", "I-Gene", "E-Gene", "S-Gene"]
    table = LabelTable.from_labels(labels)
    text = "p53 and tumour necrosis factor"
    offsets = [(0, 3), (4, 7), (8, 14), (15, 23), (24, 30)]
    assert _spans(text, offsets, [4, 0, 1, 2, 3], table) == [
        ("p53", "Gene"),
        ("tumour necrosis factor", "Gene"),
    ]


def test_accents_and_ligatures_map_to_original_characters() -> None:
    text = "Sjögren ﬁbrosis"
    # lower-casing / NFKD normalisers still report offsets into the original string
    offsets = [(0, 7), (8, 9), (9, 15)]
    assert _spans(text, offsets, [1, 2, 2]) == [("Sjögren ﬁbrosis", "Disease")]


def test_several_tokens_on_one_character_use_the_first() -> None:
    text = "ﬁ x"
    # NFKD expands "ﬁ" to "f" + "i": two tokens share the span (0, 1)
    first = first_token_of_words(np.array([0, 2]), np.array([(0, 1), (0, 1), (2, 3)]))
    assert first.tolist() == [0, 2]
    assert _spans(text, [(0, 1), (0, 1), (2, 3)], [1, 0, 0]) == [("ﬁ", "Disease")]


def test_words_no_token_covers_are_skipped() -> None:
    # "a \x00 b": the normaliser dropped NUL, so no token covers it
    assert first_token_of_words(np.array([0, 2, 4]), np.array([(0, 1), (4, 5)])).tolist() == [
        0,
        -1,
        1,
    ]


def test_score_is_mean_type_probability_over_words() -> None:
    text = "breast cancer"
    probabilities = np.array([[0.1, 0.8, 0.1], [0.3, 0.1, 0.6]], dtype=np.float32)
    (span,) = decode_spans(text, np.array([(0, 6), (7, 13)]), probabilities, TABLE)
    assert span.score == pytest.approx((0.9 + 0.7) / 2)


def test_softmax_rows_sum_to_one() -> None:
    rows = softmax(np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]], dtype=np.float32))
    assert np.allclose(rows.sum(axis=-1), 1.0)
    assert rows[0, 0] == pytest.approx(1.0)


TEXTS = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cf"]),
    max_size=200,
)


@pytest.fixture(scope="session")
def tokenizers(tiny_bundles_dir) -> list[Tokenizer]:
    return [
        Tokenizer.from_file(str(tiny_bundles_dir / name / "tokenizer.json"))
        for name in ("tiny-disease", "tiny-bert")
    ]


@pytest.mark.slow  # the tokenizers come with the tiny exported bundles
@settings(max_examples=300, deadline=None)
@given(
    text=TEXTS,
    seed=st.integers(0, 2**32 - 1),
    which=st.integers(0, 1),
    decoding=st.sampled_from(["argmax", "viterbi"]),
)
def test_every_span_is_exact_trimmed_and_in_bounds(
    tokenizers: list[Tokenizer], text: str, seed: int, which: int, decoding: Decoding
) -> None:
    encoding = tokenizers[which].encode(text, add_special_tokens=False)
    offsets = np.asarray(encoding.offsets, dtype=np.int64).reshape(-1, 2)
    rng = np.random.default_rng(seed)
    probabilities = softmax(rng.normal(size=(len(offsets), 3)).astype(np.float32) * 3)
    previous_end = 0
    for span in decode_spans(text, offsets, probabilities, TABLE, decoding):
        assert 0 <= span.start < span.end <= len(text)
        piece = text[span.start : span.end]
        assert piece == piece.strip()
        assert span.start >= previous_end
        assert 0.0 <= span.score <= 1.0
        previous_end = span.end
