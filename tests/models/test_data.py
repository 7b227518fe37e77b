"""Packing neighbouring training sentences into one chunk, as served windows hold several."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from models.recipe.data import IGNORE, Example, pack_neighbours

CLS, SEP = 101, 102
HEADS = 2


def sentence_chunk(number: int, words: list[list[int]]) -> Example:
    """A chunk like ``encode`` makes: each word's sub-word ids, head 0 labelled on first ones."""
    input_ids, labels = [CLS], [[IGNORE] for _ in range(HEADS)]
    first_positions = []
    for word, pieces in enumerate(words):
        first_positions.append(len(input_ids))
        for offset, piece in enumerate(pieces):
            input_ids.append(piece)
            labels[0].append(word % 3 if offset == 0 else IGNORE)
            labels[1].append(IGNORE)
    input_ids.append(SEP)
    for row in labels:
        row.append(IGNORE)
    return Example(input_ids, labels, number, 0, first_positions)


def content(examples: list[Example]) -> list[tuple[int, int, int]]:
    """Every sub-word between the specials with its labels, in order."""
    return [
        (piece, example.labels[0][position], example.labels[1][position])
        for example in examples
        for position, piece in enumerate(example.input_ids)
        if position not in (0, len(example.input_ids) - 1)
    ]


word = st.lists(st.integers(1000, 2000), min_size=1, max_size=3)
chunks = st.lists(st.lists(word, min_size=1, max_size=6), max_size=20).map(
    lambda sentences: [sentence_chunk(n, words) for n, words in enumerate(sentences)]
)


@given(chunks, st.floats(0.0, 1.0), st.integers(0, 1000))
def test_packing_keeps_every_sub_word_and_label_in_order_within_the_length(
    examples: list[Example], share: float, seed: int
) -> None:
    max_length = 24
    packed = pack_neighbours(examples, max_length, share, random.Random(seed))
    assert content(packed) == content(examples)
    assert all(len(chunk.input_ids) <= max_length for chunk in packed)
    for chunk in packed:
        assert chunk.input_ids[0] == CLS
        assert chunk.input_ids[-1] == SEP
        assert all(row[0] == IGNORE and row[-1] == IGNORE for row in chunk.labels)
        # each word's first position still holds its first sub-word and its label
        assert all(chunk.labels[0][p] != IGNORE for p in chunk.first_positions)
    words = sum(len(chunk.first_positions) for chunk in examples)
    assert sum(len(chunk.first_positions) for chunk in packed) == words


@given(chunks, st.integers(0, 1000))
def test_no_share_leaves_the_chunks_as_they_were(examples: list[Example], seed: int) -> None:
    assert pack_neighbours(examples, 24, 0.0, random.Random(seed)) == examples


def test_a_full_share_fills_each_chunk_before_opening_the_next() -> None:
    # three sentences of 4 sub-words each (6 with the specials)
    examples = [sentence_chunk(n, [[1000 + n], [1100, 1101], [1200]]) for n in range(3)]
    packed = pack_neighbours(examples, 12, 1.0, random.Random(0))
    assert [len(chunk.input_ids) for chunk in packed] == [10, 6]
    assert [chunk.sentence for chunk in packed] == [0, 2]
    assert packed[0].input_ids == [CLS, 1000, 1100, 1101, 1200, 1001, 1100, 1101, 1200, SEP]
    assert packed[0].first_positions == [1, 2, 4, 5, 6, 8]
