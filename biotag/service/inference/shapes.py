"""Batch shapes rounded up to a small, fixed set (used on CUDA).

ONNX Runtime's CUDA provider builds and caches state per input shape: measured on an H200 with
ORT 1.31, the fp16 ALBERT graph's attention took ~46 ms on the first batch of each new shape
against ~1.5 ms after, and GPU memory rose with every new shape. Rounding the width up to a
multiple and the row count up to a bucket bounds the shapes a server ever sees, so all of them
can be run once at start-up and memory stays flat.
"""

from __future__ import annotations

from dataclasses import dataclass

SMALL_ROW_BUCKETS = (1, 2, 4, 8)
ROW_STEP = 8  # above 8 rows, buckets every 8 rows


def _ceil_to(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


@dataclass(frozen=True)
class ShapeBuckets:
    width_multiple: int
    max_width: int  # the model's positions
    max_rows: int
    max_tokens: int  # the batcher's budget: rows x longest sequence

    def width(self, longest: int) -> int:
        return max(longest, min(_ceil_to(longest, self.width_multiple), self.max_width))

    def rows(self, count: int) -> int:
        return max(count, next((b for b in self.row_buckets() if b >= count), self.max_rows))

    def row_buckets(self) -> list[int]:
        steps = range(2 * ROW_STEP, self.max_rows, ROW_STEP)
        below = [b for b in (*SMALL_ROW_BUCKETS, *steps) if b < self.max_rows]
        return [*below, self.max_rows]

    def width_buckets(self) -> list[int]:
        below = range(self.width_multiple, self.max_width, self.width_multiple)
        return [*below, self.max_width]

    def all_shapes(self) -> list[tuple[int, int]]:
        """Every (rows, width) that a batch within the limits is rounded to."""
        shapes = []
        rows_before = 0
        for rows in self.row_buckets():
            width_before = 0
            for width in self.width_buckets():
                # the smallest batch that rounds to this shape must fit the token budget; a
                # batch of one sequence always runs
                if rows == 1 or (rows_before + 1) * (width_before + 1) <= self.max_tokens:
                    shapes.append((rows, width))
                width_before = width
            rows_before = rows
        return shapes
