"""A pure-Python TensorBundle index writer: Snappy blocks as TF 1.15 wrote them, and headers
TensorFlow 2.x never writes, for the reader's tests.

make_fixtures.py uses it to rewrite a TF-written index with Snappy blocks (and TensorFlow's own
reader checks the rewrite); the reader's tests use it for the refusals a real TensorFlow cannot
produce (a big-endian header, an unknown block type).
"""

from __future__ import annotations

from pathlib import Path


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def read_varint(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        result |= (data[i] & 0x7F) << shift
        shift += 7
        i += 1
        if data[i - 1] < 0x80:
            return result, i


def snappy_compress(data: bytes) -> bytes:
    """Greedy raw Snappy: literals, and 1- and 2-byte-offset copies from a 4-byte hash."""
    out, table, i, literal = bytearray(varint(len(data))), {}, 0, 0

    def flush(end: int) -> None:
        n = end - literal
        if n:
            out.extend(bytes([(n - 1) << 2]) if n <= 60 else bytes([60 << 2, n - 1]))
            out.extend(data[literal:end])

    while i + 4 <= len(data):
        candidate = table.get(data[i : i + 4])
        table[data[i : i + 4]] = i
        if candidate is None or i - candidate > 0xFFFF:
            i += 1
            continue
        flush(i)
        length = 4
        while (
            i + length < len(data) and length < 64 and data[candidate + length] == data[i + length]
        ):
            length += 1
        offset = i - candidate
        if length <= 11 and offset < 2048:
            out.extend(bytes([1 | (length - 4) << 2 | (offset >> 8) << 5, offset & 0xFF]))
        else:
            out.extend(bytes([2 | (length - 1) << 2]) + offset.to_bytes(2, "little"))
        i += length
        literal = i
    flush(len(data))
    return bytes(out)


def table_entries(path: Path) -> list[tuple[bytes, bytes]]:
    data = path.read_bytes()
    footer = data[-48:]
    _, j = read_varint(footer, 0)
    _, j = read_varint(footer, j)
    offset, j = read_varint(footer, j)
    size, _ = read_varint(footer, j)

    def block(o: int, s: int) -> list[tuple[bytes, bytes]]:
        assert data[o + s] == 0, "expected an uncompressed block from TF 2.x"
        b = data[o : o + s]
        n = int.from_bytes(b[-4:], "little")
        end, i, key, out = len(b) - 4 - 4 * n, 0, b"", []
        while i < end:
            shared, i = read_varint(b, i)
            unshared, i = read_varint(b, i)
            vlen, i = read_varint(b, i)
            key = key[:shared] + b[i : i + unshared]
            i += unshared
            out.append((key, b[i : i + vlen]))
            i += vlen
        return out

    entries = []
    for _, handle in block(offset, size):
        o, k = read_varint(handle, 0)
        s, _ = read_varint(handle, k)
        entries += block(o, s)
    return entries


def build_block(entries: list[tuple[bytes, bytes]]) -> bytes:
    out, restarts, previous = bytearray(), [], b""
    for n, (key, value) in enumerate(entries):
        shared = 0
        if n % 16:
            while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
                shared += 1
        else:
            restarts.append(len(out))
        out += varint(shared) + varint(len(key) - shared) + varint(len(value))
        out += key[shared:] + value
        previous = key
    for r in restarts:
        out += r.to_bytes(4, "little")
    return bytes(out + len(restarts).to_bytes(4, "little"))


def write_table(
    target: Path, entries: list[tuple[bytes, bytes]], snappy: bool, block_type: int | None = None
) -> None:
    """An SSTable of ``entries`` in two data blocks; ``snappy``: compress each block where it
    pays (LevelDB's rule, as TF 1.15's merge did); ``block_type`` forces the type byte."""
    out = bytearray()

    def emit(contents: bytes) -> bytes:
        compressed = snappy_compress(contents) if snappy else contents
        kind, body = (1, compressed) if len(compressed) < len(contents) * 7 // 8 else (0, contents)
        kind = kind if block_type is None else block_type
        handle = varint(len(out)) + varint(len(body))
        out.extend(body + bytes([kind]))
        out.extend(crc32c(body + bytes([kind])).to_bytes(4, "little"))
        return handle

    half = max(1, len(entries) // 2)
    index = [(entries[half - 1][0], emit(build_block(entries[:half])))]
    if entries[half:]:
        index.append((entries[-1][0], emit(build_block(entries[half:]))))
    meta_handle = emit(build_block([]))
    index_handle = emit(build_block(index))
    footer = (meta_handle + index_handle).ljust(40, b"\0") + bytes.fromhex("57fb808b247547db")
    target.write_bytes(bytes(out + footer))


def snappy_index(source: Path, target: Path) -> None:
    """Rewrite an index as TF 1.15's merge did: Snappy blocks (here two data blocks)."""
    write_table(target, table_entries(source), snappy=True)


def entry_proto(shape: tuple[int, ...], dtype: int = 1, offset: int = 0) -> bytes:
    """A BundleEntryProto (dtype, shape, shard 0, offset, size; no CRC: index-only tests)."""
    dims = b"".join(b"\x12" + varint(len(d)) + d for d in (b"\x08" + varint(n) for n in shape))
    size = 4
    for n in shape:
        size *= n
    return (
        b"\x08"
        + varint(dtype)
        + b"\x12"
        + varint(len(dims))
        + dims
        + b"\x20"
        + varint(offset)
        + b"\x28"
        + varint(size)
    )


def write_index(target: Path, shapes: dict[str, tuple[int, ...]], snappy: bool) -> None:
    """An index of float32 variables in one (absent) shard, as TF 1.15 would list them."""
    header = b"\x08\x01\x1a\x02\x08\x01"  # num_shards 1, version {producer 1}
    entries, offset = [(b"", header)], 0
    for name in sorted(shapes):
        entries.append((name.encode(), entry_proto(shapes[name], offset=offset)))
        offset += 4 * max(1, len(shapes[name]))
    write_table(target, entries, snappy=snappy)
