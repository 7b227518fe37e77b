"""Windows over long documents: every token owned once, with context, nothing truncated."""

from __future__ import annotations

from itertools import combinations, pairwise

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from biotag.service.config import REPO_MODELS_DIR
from biotag.service.text.chunking import (
    DocumentTokenizer,
    Window,
    plan_sentence_windows,
    plan_windows,
)


def _assert_each_token_owned_once(windows: list[Window], n_tokens: int, capacity: int) -> None:
    owned = np.zeros(n_tokens, dtype=int)
    for window in windows:
        assert 0 <= window.start <= window.keep_start <= window.keep_end <= window.end <= n_tokens
        assert window.end - window.start <= capacity
        owned[window.keep_start : window.keep_end] += 1
    assert (owned == 1).all()
    keeps = [(w.keep_start, w.keep_end) for w in windows]
    assert keeps == sorted(keeps)


@given(n_tokens=st.integers(0, 5000), capacity=st.integers(8, 600), stride_share=st.floats(0, 0.45))
def test_windows_cover_every_token_once(n_tokens: int, capacity: int, stride_share: float) -> None:
    stride = int(capacity * stride_share)
    _assert_each_token_owned_once(plan_windows(n_tokens, capacity, stride), n_tokens, capacity)


@given(n_tokens=st.integers(601, 5000), stride=st.integers(2, 200))
def test_owned_tokens_have_context_on_both_sides(n_tokens: int, stride: int) -> None:
    windows = plan_windows(n_tokens, 600, stride)
    for window in windows:
        if window.start > 0:
            assert window.keep_start - window.start >= stride // 2
        if window.end < n_tokens:
            assert window.end - window.keep_end >= stride // 2


def test_windows_are_wrapped_in_special_tokens() -> None:
    tokenizer = DocumentTokenizer.from_json(
        (REPO_MODELS_DIR / "default" / "tokenizer.json").read_text()
    )
    (document,) = tokenizer.encode(["Patients with cystic fibrosis"])
    (window,) = plan_windows(len(document.ids), 100, 10)
    ids = tokenizer.window_ids(document, window)
    assert len(ids) == len(document.ids) + 2
    assert tokenizer.special_count == 2
    assert (ids[1:-1] == document.ids).all()


_sentence_lengths = st.lists(st.integers(1, 300), min_size=1, max_size=40)


def _starts(lengths: list[int]) -> list[int]:
    return np.cumsum(lengths)[:-1].tolist()


@given(lengths=_sentence_lengths, capacity=st.integers(8, 600), target=st.integers(1, 600))
def test_sentence_windows_own_every_token_once(
    lengths: list[int], capacity: int, target: int
) -> None:
    n_tokens = sum(lengths)
    windows = plan_sentence_windows(n_tokens, _starts(lengths), capacity, target, capacity // 4)
    _assert_each_token_owned_once(windows, n_tokens, capacity)


@given(lengths=_sentence_lengths, capacity=st.integers(8, 600), target=st.integers(1, 600))
def test_a_sentence_that_fits_a_window_is_never_cut(
    lengths: list[int], capacity: int, target: int
) -> None:
    bounds = [0, *_starts(lengths), sum(lengths)]
    windows = plan_sentence_windows(bounds[-1], bounds[1:-1], capacity, target, capacity // 4)
    for start, end in pairwise(bounds):
        if end - start <= capacity:
            assert any(w.start <= start and end <= w.end for w in windows), (start, end)
    for window in windows:
        if (window.start, window.end) == (window.keep_start, window.keep_end):
            assert window.start in bounds  # whole sentences
            assert window.end in bounds


def _cost(cuts: list[int], target: int) -> int:
    return sum((end - start) ** 2 + target * target for start, end in pairwise(cuts))


@given(
    lengths=st.lists(st.integers(1, 60), min_size=1, max_size=9),
    capacity=st.integers(60, 200),
    target=st.integers(1, 200),
)
def test_sentences_are_grouped_at_the_least_cost(
    lengths: list[int], capacity: int, target: int
) -> None:
    """Against every possible grouping: no cheaper set of whole-sentence windows exists."""
    bounds = [0, *_starts(lengths), sum(lengths)]
    windows = plan_sentence_windows(bounds[-1], bounds[1:-1], capacity, target, 16)
    chosen = [0, *(w.end for w in windows)]
    inner = bounds[1:-1]
    feasible = (
        [0, *cuts, bounds[-1]]
        for size in range(len(inner) + 1)
        for cuts in combinations(inner, size)
    )
    best = min(
        _cost(cuts, target)
        for cuts in feasible
        if all(end - start <= capacity for start, end in pairwise(cuts))
    )
    if bounds[-1] > min(target, capacity):
        assert _cost(chosen, target) == best
    else:
        assert chosen == [0, bounds[-1]]  # short enough: one window, whole


def test_an_abstract_is_cut_between_sentences_near_the_target_length() -> None:
    lengths = [31, 24, 40, 28, 35, 22, 30, 27, 38, 33]  # 308 tokens, 10 sentences
    windows = plan_sentence_windows(sum(lengths), _starts(lengths), 510, 126, 64)
    assert windows == [Window(0, 158, 0, 158), Window(158, 308, 158, 308)]
    windows = plan_sentence_windows(sum(lengths), _starts(lengths), 510, 64, 64)
    assert [w.end - w.start for w in windows] == [55, 68, 57, 57, 71]
    assert plan_sentence_windows(sum(lengths), _starts(lengths), 510, 510, 64) == [
        Window(0, 308, 0, 308)
    ]


def test_a_sentence_longer_than_a_window_gets_overlapping_windows() -> None:
    windows = plan_sentence_windows(700, [50, 650], 200, 100, 40)
    assert windows[0] == Window(0, 50, 0, 50)
    assert windows[-1] == Window(650, 700, 650, 700)
    inside = windows[1:-1]
    assert [(w.start, w.end) for w in inside] == [(50, 250), (210, 410), (370, 570), (450, 650)]
    assert all(b.start < a.end for a, b in pairwise(inside))  # context across the seams
