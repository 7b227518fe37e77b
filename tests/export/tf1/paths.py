"""Where the committed fixtures are (written by make_fixtures.py with real TensorFlow)."""

from __future__ import annotations

import shutil
from pathlib import Path

FIXTURES = Path(__file__).with_name("fixtures")
SPM = FIXTURES / "spm" / "30k-clean.model"
PARITY = FIXTURES / "parity"
NCBI_ABSTRACTS = Path(__file__).resolve().parents[4] / "shared/data/bioner/ncbi-disease/abstracts"


def copy_fixture(name: str, target: Path) -> Path:
    """A writable copy (tests that corrupt or complete a checkpoint never touch the originals)."""
    shutil.copytree(FIXTURES / name, target)
    return target


def snappy_checkpoint(target: Path) -> Path:
    """The Snappy-index fixture completed with the data shards and config of the one it was
    rewritten from (the index holds the same entries; only its blocks are compressed)."""
    copy_fixture("ner-snappy", target)
    for shard in (FIXTURES / "ner").glob("*.data-*"):
        shutil.copy(shard, target / shard.name)
    shutil.copy(FIXTURES / "ner" / "albert_config.json", target / "albert_config.json")
    return target
