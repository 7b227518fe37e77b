"""The TensorBundle reader on checkpoints TensorFlow wrote: what a user's download holds."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from biotag.export.errors import ExportError
from biotag.export.tf1.tensorbundle import find_prefix, open_bundle
from tests.export.tf1.bundle_writer import table_entries, varint, write_table
from tests.export.tf1.paths import FIXTURES, copy_fixture, snappy_checkpoint


def test_sharded_checkpoint_with_adam_slots_and_global_step() -> None:
    bundle = open_bundle(find_prefix(FIXTURES / "ner"))
    assert bundle.num_shards == 3
    assert bundle.snappy_blocks == 0
    assert "bert/embeddings/word_embeddings/adam_m" in bundle.entries
    assert bundle.read("global_step").item() == 1234
    words = bundle.read("bert/embeddings/word_embeddings")
    assert words.shape == (1000, 8)
    assert words.dtype == np.float32
    assert {e.shard for e in bundle.entries.values()} == {0, 1, 2}


def test_snappy_index_reads_exactly_like_the_uncompressed_one(tmp_path: Path) -> None:
    plain = open_bundle(find_prefix(FIXTURES / "ner"))
    snappy = open_bundle(find_prefix(snappy_checkpoint(tmp_path / "snappy")))
    assert snappy.snappy_blocks >= 1
    assert snappy.entries == plain.entries
    for name in plain.entries:
        np.testing.assert_array_equal(snappy.read(name), plain.read(name))


def test_state_file_path_is_used_by_basename_only() -> None:
    state = (FIXTURES / "ner" / "checkpoint").read_text()
    assert "gs://" in state
    assert find_prefix(FIXTURES / "ner") == FIXTURES / "ner" / "model.ckpt-1234"


def test_several_checkpoints_without_a_state_file_are_refused(tmp_path: Path) -> None:
    folder = copy_fixture("ner", tmp_path / "two")
    (folder / "checkpoint").unlink()
    shutil.copy(folder / "model.ckpt-1234.index", folder / "model.ckpt-1000.index")
    with pytest.raises(ExportError, match="several checkpoints"):
        find_prefix(folder)


def test_a_folder_without_an_index_is_not_a_tf1_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"no \*\.index file"):
        find_prefix(tmp_path)


def test_bfloat16_is_widened_exactly() -> None:
    bundle = open_bundle(find_prefix(FIXTURES / "bf16"))
    entry = bundle.entries["bert/embeddings/word_embeddings"]
    assert entry.dtype == "bfloat16"
    value = bundle.read(entry.name)
    assert value.dtype == np.float32
    assert not (value.view(np.uint32) & 0xFFFF).any()  # a bfloat16 is a float32's top half
    assert np.isfinite(value).all()
    assert np.abs(value).max() > 0


def test_float16_tensors() -> None:
    bundle = open_bundle(find_prefix(FIXTURES / "groups"))
    value = bundle.read("bert/embeddings/word_embeddings")
    assert value.dtype == np.float16


def test_a_corrupt_tensor_fails_its_crc(tmp_path: Path) -> None:
    folder = copy_fixture("bf16", tmp_path / "corrupt")
    bundle = open_bundle(find_prefix(folder))
    entry = bundle.entries["bert/embeddings/word_embeddings"]
    data = folder / "model.ckpt-1234.data-00000-of-00001"
    raw = bytearray(data.read_bytes())
    raw[entry.offset + 3] ^= 0x40
    data.write_bytes(bytes(raw))
    with pytest.raises(ExportError, match="CRC32C mismatch in bert/embeddings/word_embeddings"):
        open_bundle(find_prefix(folder)).read(entry.name)


def test_a_corrupt_index_block_fails_its_crc(tmp_path: Path) -> None:
    folder = copy_fixture("ner-snappy", tmp_path / "corrupt")
    index = folder / "model.ckpt-1234.index"
    raw = bytearray(index.read_bytes())
    raw[10] ^= 0x01
    index.write_bytes(bytes(raw))
    with pytest.raises(ExportError, match="CRC32C mismatch in the index block"):
        open_bundle(find_prefix(folder))


def test_a_truncated_data_shard_is_refused(tmp_path: Path) -> None:
    folder = copy_fixture("bf16", tmp_path / "short")
    data = folder / "model.ckpt-1234.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    bundle = open_bundle(find_prefix(folder))
    name = max(bundle.entries, key=lambda n: bundle.entries[n].offset)
    with pytest.raises(ExportError, match="is truncated"):
        bundle.read(name)


def test_not_an_index(tmp_path: Path) -> None:
    (tmp_path / "model.ckpt-1.index").write_bytes(b"\0" * 64)
    with pytest.raises(ExportError, match="not a TensorBundle index"):
        open_bundle(tmp_path / "model.ckpt-1")


def test_partitioned_variables_are_refused() -> None:
    bundle = open_bundle(find_prefix(FIXTURES / "partitioned"))
    assert bundle.entries["bert/embeddings/word_embeddings"].slices == 2
    with pytest.raises(ExportError, match="partitioned into 2 slices"):
        bundle.read("bert/embeddings/word_embeddings")


def _rewrite_header(tmp_path: Path, header: bytes) -> Path:
    """The ner index with another BundleHeaderProto (num_shards=3 kept)."""
    entries = table_entries(FIXTURES / "ner" / "model.ckpt-1234.index")
    assert entries[0][0] == b""
    write_table(tmp_path / "model.ckpt-1.index", [(b"", header), *entries[1:]], snappy=False)
    return tmp_path / "model.ckpt-1"


def test_a_big_endian_checkpoint_is_refused(tmp_path: Path) -> None:
    header = bytes([0x08, 3, 0x10, 1])  # num_shards=3, endianness=BIG
    with pytest.raises(ExportError, match="big-endian"):
        open_bundle(_rewrite_header(tmp_path, header))


def test_a_checkpoint_needing_a_newer_reader_is_refused(tmp_path: Path) -> None:
    version = bytes([0x08, 1, 0x10, 2])  # producer 1, min_consumer 2
    header = bytes([0x08, 3, 0x1A]) + varint(len(version)) + version
    with pytest.raises(ExportError, match="newer TensorBundle reader"):
        open_bundle(_rewrite_header(tmp_path, header))


def test_an_unknown_block_compression_is_refused(tmp_path: Path) -> None:
    entries = table_entries(FIXTURES / "ner" / "model.ckpt-1234.index")
    write_table(tmp_path / "model.ckpt-1.index", entries, snappy=False, block_type=4)
    with pytest.raises(ExportError, match="unknown compression type 4"):
        open_bundle(tmp_path / "model.ckpt-1")


def test_the_pure_python_writer_round_trips_through_the_reader(tmp_path: Path) -> None:
    entries = table_entries(FIXTURES / "ner" / "model.ckpt-1234.index")
    write_table(tmp_path / "model.ckpt-1234.index", entries, snappy=True)
    for shard in (FIXTURES / "ner").glob("*.data-*"):
        shutil.copy(shard, tmp_path / shard.name)
    bundle = open_bundle(tmp_path / "model.ckpt-1234")
    assert bundle.entries == open_bundle(FIXTURES / "ner" / "model.ckpt-1234").entries
