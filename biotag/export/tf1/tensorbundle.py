"""Reader of TensorFlow's TensorBundle V2 checkpoints (``PREFIX.index`` + ``PREFIX.data-*``).

The index is a LevelDB-style SSTable of name -> ``BundleEntryProto`` (dtype, shape, shard,
offset, size, CRC32C); the data shards hold raw little-endian tensor bytes. Blocks may be
uncompressed (TF 2.x) or Snappy-compressed (TF 1.15's merged sharded saves: the BioALBERT
releases), and both block and tensor checksums are verified so a truncated download fails
loudly instead of yielding garbage weights. Only the index is read up front: ``inspect`` works
without the (large) data shards, and tensors are read one at a time through a memory map.
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass, field
from pathlib import Path

import google_crc32c
import numpy as np

from biotag.export.errors import ExportError
from biotag.export.tf1 import snappy
from biotag.export.tf1.wire import WireError, fields, first_bytes, first_int, fixed32, varint

_MAGIC = bytes.fromhex("57fb808b247547db")
_FOOTER = 48
_CRC_MASK_DELTA = 0xA282EAD8
_DTYPES: dict[int, str] = {
    1: "float32",
    2: "float64",
    3: "int32",
    4: "uint8",
    5: "int16",
    6: "int8",
    7: "string",
    9: "int64",
    10: "bool",
    14: "bfloat16",
    19: "float16",
}
_NUMPY = {
    "float32": "<f4",
    "float64": "<f8",
    "int32": "<i4",
    "uint8": "u1",
    "int16": "<i2",
    "int8": "i1",
    "int64": "<i8",
    "bool": "?",
    "bfloat16": "<u2",
    "float16": "<f2",
}


def masked_crc32c(data: bytes | memoryview) -> int:
    """TensorFlow's masked CRC32C (so that a CRC of data holding CRCs is not degenerate)."""
    crc = int(google_crc32c.value(bytes(data)))
    return (((crc >> 15) | (crc << 17)) + _CRC_MASK_DELTA) & 0xFFFFFFFF


@dataclass(frozen=True)
class TensorEntry:
    """Where one variable lives and what it is, as the index says."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int
    crc32c: int
    slices: int  # > 0: a partitioned variable, stored as that many slice entries


@dataclass
class Bundle:
    """An opened checkpoint: the index parsed, the data shards opened on first read."""

    prefix: Path
    num_shards: int
    entries: dict[str, TensorEntry]
    snappy_blocks: int  # how many index blocks were Snappy-compressed
    _maps: dict[int, mmap.mmap] = field(default_factory=dict, repr=False)

    def data_file(self, shard: int) -> Path:
        return self.prefix.with_name(
            f"{self.prefix.name}.data-{shard:05d}-of-{self.num_shards:05d}"
        )

    def missing_data_files(self) -> list[Path]:
        return [
            self.data_file(s) for s in range(self.num_shards) if not self.data_file(s).is_file()
        ]

    def read(self, name: str) -> np.ndarray:
        """The tensor as numpy (bfloat16 widened exactly to float32), its CRC32C verified."""
        entry = self.entries[name]
        if entry.slices:
            raise ExportError(
                f"variable {name} is partitioned into {entry.slices} slices; biotag reads "
                "unpartitioned checkpoints only (google-research ALBERT never partitions)"
            )
        if entry.dtype == "string":
            raise ExportError(f"variable {name} is a string tensor, not a weight")
        data = self._map(entry.shard)
        if entry.offset + entry.size > len(data):
            raise ExportError(
                f"{self.data_file(entry.shard).name} is truncated: {name} ends at byte "
                f"{entry.offset + entry.size}, the file has {len(data)}"
            )
        # a copy, not a view: no pointer into the map outlives this call (an exception's
        # traceback holding one would make close() fail)
        raw = data[entry.offset : entry.offset + entry.size]
        if masked_crc32c(raw) != entry.crc32c:
            raise ExportError(f"CRC32C mismatch in {name}: the data file is corrupt")
        array = np.frombuffer(raw, dtype=_NUMPY[entry.dtype]).copy()
        if entry.dtype == "bfloat16":  # the top half of a float32: widening is exact
            array = (array.astype("<u4") << 16).view("<f4")
        return array.reshape(entry.shape)

    def _map(self, shard: int) -> mmap.mmap:
        if shard not in self._maps:
            path = self.data_file(shard)
            if not path.is_file():
                raise ExportError(f"data shard {path} is missing")
            with path.open("rb") as handle:
                self._maps[shard] = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        return self._maps[shard]

    def close(self) -> None:
        for mapped in self._maps.values():
            mapped.close()
        self._maps.clear()


def find_prefix(directory: Path) -> Path:
    """The checkpoint prefix of a directory: the ``checkpoint`` state file's path (basename
    only: it often holds ``gs://`` or absolute paths of the training machine), else its only
    ``*.index`` file."""
    if not directory.is_dir():
        raise ExportError(f"checkpoint folder {directory} does not exist")
    state = directory / "checkpoint"
    if state.is_file():
        match = re.search(r'^model_checkpoint_path:\s*"(.*)"', state.read_text(), re.MULTILINE)
        if match:
            basename = re.split(r"[/\\]", match.group(1))[-1]
            prefix = directory / basename
            if prefix.with_name(prefix.name + ".index").is_file():
                return prefix
    indexes = sorted(directory.glob("*.index"))
    if len(indexes) == 1:
        return indexes[0].with_suffix("")
    if not indexes:
        raise ExportError(f"{directory} has no *.index file: not a TF1 checkpoint")
    names = ", ".join(p.name for p in indexes)
    raise ExportError(
        f"{directory} holds several checkpoints ({names}) and no `checkpoint` file naming one; "
        "keep one or pass its folder alone"
    )


def is_tf1_checkpoint(path: Path) -> bool:
    return path.is_dir() and any(path.glob("*.index"))


def _block(data: bytes, offset: int, size: int, stats: list[int]) -> bytes:
    if offset + size + 5 > len(data):
        raise ExportError(f"index block at {offset} runs past the end of the file")
    contents, kind = data[offset : offset + size], data[offset + size]
    stored = int.from_bytes(data[offset + size + 1 : offset + size + 5], "little")
    if masked_crc32c(data[offset : offset + size + 1]) != stored:
        raise ExportError(f"CRC32C mismatch in the index block at byte {offset}: corrupt index")
    if kind == 0:
        return contents
    if kind == 1:
        stats.append(1)
        try:
            return snappy.decompress(contents)
        except snappy.SnappyError as exc:
            raise ExportError(f"bad Snappy block at byte {offset} of the index: {exc}") from exc
    raise ExportError(f"index block at byte {offset} has unknown compression type {kind}")


def _entries(block: bytes) -> list[tuple[bytes, bytes]]:
    restarts = int.from_bytes(block[-4:], "little")
    end = len(block) - 4 - 4 * restarts
    out: list[tuple[bytes, bytes]] = []
    key, index = b"", 0
    while index < end:
        shared, index = varint(block, index)
        unshared, index = varint(block, index)
        length, index = varint(block, index)
        key = key[:shared] + block[index : index + unshared]
        index += unshared
        out.append((key, block[index : index + length]))
        index += length
    return out


def _entry(name: str, value: bytes) -> TensorEntry:
    proto = fields(value)
    code = first_int(proto, 1)
    if code not in _DTYPES:
        raise ExportError(f"variable {name} has unsupported dtype code {code}")
    shape_proto = fields(first_bytes(proto, 2))
    shape = tuple(first_int(fields(dim), 1) for dim in shape_proto.get(2, []))  # type: ignore[arg-type]
    crc = proto.get(6)
    return TensorEntry(
        name=name,
        dtype=_DTYPES[code],
        shape=shape,
        shard=first_int(proto, 3),
        offset=first_int(proto, 4),
        size=first_int(proto, 5),
        crc32c=fixed32(crc[0]) if crc else 0,
        slices=len(proto.get(7, [])),
    )


def open_bundle(prefix: Path) -> Bundle:
    """Parse ``PREFIX.index`` (the data shards are opened only when a tensor is read)."""
    index = prefix.with_name(prefix.name + ".index")
    data = index.read_bytes()
    if len(data) < _FOOTER or data[-8:] != _MAGIC:
        raise ExportError(f"{index} is not a TensorBundle index (bad footer magic)")
    try:
        footer = data[-_FOOTER:]
        _, j = varint(footer, 0)
        _, j = varint(footer, j)
        index_offset, j = varint(footer, j)
        index_size, _ = varint(footer, j)
        stats: list[int] = []
        pairs: list[tuple[bytes, bytes]] = []
        for _, handle in _entries(_block(data, index_offset, index_size, stats)):
            offset, k = varint(handle, 0)
            size, _ = varint(handle, k)
            pairs += _entries(_block(data, offset, size, stats))
        header = fields(pairs[0][1]) if pairs and pairs[0][0] == b"" else None
        if header is None:
            raise ExportError(f"{index} has no bundle header")
        _check_header(index, header)
        entries = {}
        for key, value in pairs[1:]:
            if key.startswith(b"\x00"):  # a slice of a partitioned variable (OrderedCode key)
                continue
            name = key.decode("utf-8")
            entries[name] = _entry(name, value)
    except (WireError, IndexError, UnicodeDecodeError) as exc:
        raise ExportError(f"{index} is corrupt: {exc}") from exc
    return Bundle(prefix, max(1, first_int(header, 1, 1)), entries, len(stats))


def _check_header(index: Path, header: dict[int, list[int | bytes]]) -> None:
    if first_int(header, 2) != 0:
        raise ExportError(f"{index} is a big-endian checkpoint; biotag reads little-endian only")
    version = fields(first_bytes(header, 3))
    if first_int(version, 2) > 1 or 1 in version.get(3, []):
        raise ExportError(f"{index} needs a newer TensorBundle reader (version {version})")
