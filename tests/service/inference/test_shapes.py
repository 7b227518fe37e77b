"""Shape buckets: every batch the batcher can form rounds to a shape that was warmed up."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from biotag.service.inference.shapes import ShapeBuckets

SERVICE_DEFAULTS = ShapeBuckets(width_multiple=64, max_width=512, max_rows=64, max_tokens=16384)


@st.composite
def limits_and_batch(draw: st.DrawFn) -> tuple[ShapeBuckets, int, int]:
    buckets = ShapeBuckets(
        width_multiple=draw(st.integers(1, 128)),
        max_width=draw(st.integers(8, 1024)),
        max_rows=draw(st.integers(1, 128)),
        max_tokens=draw(st.integers(64, 65536)),
    )
    longest = draw(st.integers(1, buckets.max_width))
    rows = draw(st.integers(1, max(1, min(buckets.max_rows, buckets.max_tokens // longest))))
    return buckets, rows, longest


@given(limits_and_batch())
def test_every_batch_within_limits_rounds_to_a_warmed_shape(
    case: tuple[ShapeBuckets, int, int],
) -> None:
    buckets, rows, longest = case
    shape = (buckets.rows(rows), buckets.width(longest))
    assert rows <= shape[0] <= buckets.max_rows
    assert longest <= shape[1] <= buckets.max_width
    assert shape in buckets.all_shapes()


def test_service_defaults_bound_the_shapes_and_the_padding() -> None:
    assert SERVICE_DEFAULTS.width_buckets() == [64, 128, 192, 256, 320, 384, 448, 512]
    assert SERVICE_DEFAULTS.row_buckets() == [1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64]
    assert len(SERVICE_DEFAULTS.all_shapes()) < 88
    assert SERVICE_DEFAULTS.width(300) == 320
    assert SERVICE_DEFAULTS.rows(17) == 24
    assert SERVICE_DEFAULTS.rows(1) == 1
