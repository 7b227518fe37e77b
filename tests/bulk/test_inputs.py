"""Inputs as given on the command line: files, folders and globs, in a deterministic order."""

from __future__ import annotations

from pathlib import Path

import pytest

from biotag.bulk.inputs import InputError, expand
from biotag.bulk.readers import InputFormat


def _touch(path: Path, text: str = '{"id": "a", "text": "x"}\n') -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_folders_and_globs_in_natural_order(tmp_path: Path) -> None:
    for number in (10, 2, 1):
        _touch(tmp_path / "corpus" / f"pubmed24n{number}.jsonl")
    _touch(tmp_path / "corpus" / "README.md", "not a corpus file")
    _touch(tmp_path / "more" / "notes.txt", "a note")
    found = expand([str(tmp_path / "corpus"), str(tmp_path / "more" / "*.txt")])
    assert [f.part for f in found] == ["pubmed24n1", "pubmed24n2", "pubmed24n10", "notes"]
    assert [f.format for f in found] == [InputFormat.JSONL] * 3 + [InputFormat.TEXT]


def test_the_same_file_twice_is_tagged_once(tmp_path: Path) -> None:
    path = _touch(tmp_path / "a.jsonl")
    assert len(expand([str(path), str(tmp_path / "*.jsonl")])) == 1


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        expand([str(tmp_path / "missing-*.xml")])
    _touch(tmp_path / "x" / "a.jsonl")
    _touch(tmp_path / "y" / "a.jsonl.gz")
    with pytest.raises(InputError, match="both be written as part 'a'"):
        expand([str(tmp_path / "x"), str(tmp_path / "y" / "a.jsonl.gz")])
    _touch(tmp_path / "z.xml", "<html/>")
    with pytest.raises(InputError, match="neither PubMed"):
        expand([str(tmp_path / "z.xml")])
    _touch(tmp_path / "w.csv", "a,b")
    with pytest.raises(InputError, match="unknown input format"):
        expand([str(tmp_path / "w.csv")])


def test_pubmed_samples_are_detected(pubmed_samples: tuple[Path, Path]) -> None:
    found = expand([str(pubmed_samples[0].parent / "*.xml.gz")])
    assert [(f.part, f.format) for f in found] == [
        ("medline16n0902", InputFormat.PUBMED),
        ("pubmed-current-sample", InputFormat.PUBMED),
    ]
