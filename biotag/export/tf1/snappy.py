"""Raw Snappy decompression (no framing), enough for TF1 checkpoint index blocks.

TF 1.15 (the BioALBERT releases, saved on TPU) Snappy-compressed the index of every sharded
checkpoint; TF 2.x does not. The index of an ALBERT-base checkpoint is about 2 KB, so a
40-line decoder is fast enough and spares users a compiled dependency.
"""

from __future__ import annotations

from biotag.export.tf1.wire import WireError, varint


class SnappyError(ValueError):
    """Bytes that are not a valid raw Snappy stream."""


def decompress(data: bytes) -> bytes:
    """Decode a raw Snappy stream: a varint length, then literals and back-references."""
    try:
        expected, index = varint(data, 0)
    except WireError as exc:
        raise SnappyError(f"bad length header: {exc}") from exc
    out = bytearray()
    while index < len(data):
        tag = data[index]
        index += 1
        kind = tag & 3
        if kind == 0:  # literal
            length = tag >> 2
            if length >= 60:
                extra = length - 59
                length = int.from_bytes(data[index : index + extra], "little")
                index += extra
            length += 1
            if index + length > len(data):
                raise SnappyError("literal runs past the end of the input")
            out += data[index : index + length]
            index += length
            continue
        if kind == 1:
            length = 4 + ((tag >> 2) & 7)
            offset = ((tag >> 5) << 8) | data[index]
            index += 1
        else:
            width = 2 if kind == 2 else 4
            length = (tag >> 2) + 1
            offset = int.from_bytes(data[index : index + width], "little")
            index += width
        if offset == 0 or offset > len(out):
            raise SnappyError(f"copy offset {offset} outside the {len(out)} bytes decoded")
        start = len(out) - offset
        for i in range(length):  # copies may overlap their own output
            out.append(out[start + i])
    if len(out) != expected:
        raise SnappyError(f"decoded {len(out)} bytes, header says {expected}")
    return bytes(out)
