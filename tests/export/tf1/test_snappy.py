"""Raw Snappy decoding: every element kind, overlapping copies, and corrupt streams refused."""

from __future__ import annotations

import pytest

from biotag.export.tf1.snappy import SnappyError, decompress


def test_literal_only() -> None:
    assert decompress(bytes([5, 4 << 2]) + b"hello") == b"hello"


def test_long_literal_with_a_length_byte() -> None:
    data = bytes(range(100))
    assert decompress(bytes([100, 60 << 2, 99]) + data) == data


def test_one_byte_offset_copy_overlapping_its_output() -> None:
    # "ab" then copy 6 bytes from offset 2: a run, as Snappy encodes repeats
    stream = bytes([8, 1 << 2]) + b"ab" + bytes([1 | (6 - 4) << 2, 2])
    assert decompress(stream) == b"abababab"


def test_two_and_four_byte_offset_copies() -> None:
    two = bytes([6, 2 << 2]) + b"xyz" + bytes([2 | (3 - 1) << 2, 3, 0])
    assert decompress(two) == b"xyzxyz"
    four = bytes([6, 2 << 2]) + b"xyz" + bytes([3 | (3 - 1) << 2, 3, 0, 0, 0])
    assert decompress(four) == b"xyzxyz"


@pytest.mark.parametrize(
    "stream",
    [
        bytes([9, 4 << 2]) + b"hello",  # header promises more than the stream holds
        bytes([5, 1 | 0 << 2, 9]),  # copy before any output
        bytes([5, 10 << 2]) + b"abc",  # literal past the end
    ],
)
def test_corrupt_streams_are_refused(stream: bytes) -> None:
    with pytest.raises(SnappyError):
        decompress(stream)
