"""Protocol-buffer wire format, decoded by hand.

TensorBundle entries, SentencePiece's ``ModelProto`` and a ``MetaGraphDef`` are all protobufs;
decoding the few fields we need by hand keeps TensorFlow's generated classes (and a protobuf
version fight with them) out of the exporter.
"""

from __future__ import annotations

import struct

Fields = dict[int, list[int | bytes]]


class WireError(ValueError):
    """Bytes that are not a valid protobuf message or varint."""


def varint(data: bytes | memoryview, index: int) -> tuple[int, int]:
    """Decode one LEB128 varint at ``index``; returns (value, index after it)."""
    result = shift = 0
    while True:
        if index >= len(data):
            raise WireError("truncated varint")
        byte = data[index]
        index += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, index
        shift += 7
        if shift > 70:
            raise WireError("varint longer than 10 bytes")


def fields(message: bytes | memoryview) -> Fields:
    """All fields of a message: field number -> values in order (ints, or bytes for
    length-delimited and fixed-width fields, which the caller interprets)."""
    out: Fields = {}
    index = 0
    while index < len(message):
        key, index = varint(message, index)
        number, wire_type = key >> 3, key & 7
        value: int | bytes
        if wire_type == 0:
            value, index = varint(message, index)
        elif wire_type == 1:
            value, index = bytes(message[index : index + 8]), index + 8
        elif wire_type == 2:
            length, index = varint(message, index)
            value, index = bytes(message[index : index + length]), index + length
        elif wire_type == 5:
            value, index = bytes(message[index : index + 4]), index + 4
        else:
            raise WireError(f"unsupported wire type {wire_type} for field {number}")
        if index > len(message):
            raise WireError(f"field {number} runs past the end of the message")
        out.setdefault(number, []).append(value)
    return out


def first_int(message: Fields, number: int, default: int = 0) -> int:
    values = message.get(number)
    return int(values[0]) if values else default


def first_bytes(message: Fields, number: int, default: bytes = b"") -> bytes:
    values = message.get(number)
    return bytes(values[0]) if values else default


def fixed32(value: int | bytes) -> int:
    return struct.unpack("<I", value)[0] if isinstance(value, bytes) else int(value)


def float32(value: int | bytes) -> float:
    return struct.unpack("<f", value)[0] if isinstance(value, bytes) else float(value)


def signed64(value: int) -> int:
    """A varint-encoded int64 (two's complement over 64 bits)."""
    return value - (1 << 64) if value >= 1 << 63 else value
