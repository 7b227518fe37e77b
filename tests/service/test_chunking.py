"""Windows over long documents: every token owned once, with context, nothing truncated."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from biotag.service.chunking import DocumentTokenizer, plan_windows


@given(n_tokens=st.integers(0, 5000), capacity=st.integers(8, 600), stride_share=st.floats(0, 0.45))
def test_windows_cover_every_token_once(n_tokens: int, capacity: int, stride_share: float) -> None:
    stride = int(capacity * stride_share)
    windows = plan_windows(n_tokens, capacity, stride)
    owned = np.zeros(n_tokens, dtype=int)
    for window in windows:
        assert (
            0
            <= window.start
            <= window.keep_start
            <= window.keep_end
            <= window.end
            <= max(n_tokens, 0)
        )
        assert window.end - window.start <= capacity
        owned[window.keep_start : window.keep_end] += 1
    assert (owned == 1).all()


@given(n_tokens=st.integers(601, 5000), stride=st.integers(2, 200))
def test_owned_tokens_have_context_on_both_sides(n_tokens: int, stride: int) -> None:
    windows = plan_windows(n_tokens, 600, stride)
    for window in windows:
        if window.start > 0:
            assert window.keep_start - window.start >= stride // 2
        if window.end < n_tokens:
            assert window.end - window.keep_end >= stride // 2


def test_windows_are_wrapped_in_special_tokens(tiny_bundles_dir) -> None:
    tokenizer = DocumentTokenizer.from_json(
        (tiny_bundles_dir / "tiny-bert" / "tokenizer.json").read_text()
    )
    (document,) = tokenizer.encode(["Patients with cystic fibrosis"])
    (window,) = plan_windows(len(document.ids), 100, 10)
    ids = tokenizer.window_ids(document, window)
    assert len(ids) == len(document.ids) + 2
    assert tokenizer.special_count == 2
    assert (ids[1:-1] == document.ids).all()
