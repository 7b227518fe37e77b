"""What the manifest lets a rerun keep, and what it refuses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from biotag.bulk.manifest import (
    MANIFEST_FILE,
    Manifest,
    ManifestError,
    identity_differences,
    open_manifest,
)

LOCAL = {
    "biotag": "0.1.0",
    "output": "jsonl",
    "section_labels": True,
    "limit": None,
    "models": {"disease": {"bundle": "default", "precision": "int8", "graph_sha256": "aa"}},
}


def _with_model(**changes: str) -> dict[str, object]:
    return {**LOCAL, "models": {"disease": {**LOCAL["models"]["disease"], **changes}}}


def test_models_compare_on_the_keys_both_runs_know() -> None:
    over_http = {**LOCAL, "models": {"disease": {"bundle": "default", "precision": "int8"}}}
    assert identity_differences(LOCAL, over_http) == []
    assert identity_differences(LOCAL, _with_model(graph_sha256="bb")) == [
        "model disease graph_sha256: aa -> bb"
    ]
    assert identity_differences(LOCAL, {**LOCAL, "models": {}}) == ["models: ['disease'] -> []"]
    assert identity_differences(LOCAL, {**LOCAL, "output": "pubtator"}) == [
        "output: 'jsonl' -> 'pubtator'"
    ]


def _finished_once(directory: Path, source: Path) -> Manifest:
    manifest = open_manifest(directory, LOCAL, resume=False, force=False)
    (directory / "a.jsonl").write_text("{}\n")
    manifest.parts["a"] = {
        "file": "a.jsonl",
        "input_bytes": source.stat().st_size,
        "input_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "identity": LOCAL,
        "counts": {},
    }
    manifest.save()
    return manifest


def test_refusals_and_force(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl.in"
    source.write_text('{"id": "1", "text": "x"}\n')
    out = tmp_path / "out"
    out.mkdir()
    _finished_once(out, source)
    with pytest.raises(ManifestError, match="--resume"):
        open_manifest(out, LOCAL, resume=False, force=False)
    other = _with_model(graph_sha256="bb")
    with pytest.raises(ManifestError, match="graph_sha256: aa -> bb"):
        open_manifest(out, other, resume=True, force=False)
    resumed = open_manifest(out, LOCAL, resume=True, force=False)
    assert resumed.finished("a", source, LOCAL, force=False)
    forced = open_manifest(out, other, resume=True, force=True)
    assert not forced.finished("a", source, other, force=False)
    assert forced.finished("a", source, other, force=True)


def test_a_changed_or_missing_input_or_part_is_not_finished(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl.in"
    source.write_text('{"id": "1", "text": "x"}\n')
    manifest = _finished_once(tmp_path, source)
    source.write_text('{"id": "1", "text": "y"}\n')  # same size, other content
    assert not manifest.finished("a", source, LOCAL, force=False)
    source.write_text('{"id": "1", "text": "x"}\n')
    assert manifest.finished("a", source, LOCAL, force=False)
    (tmp_path / "a.jsonl").unlink()
    assert not manifest.finished("a", source, LOCAL, force=False)


def test_a_damaged_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_FILE).write_text("{not json")
    with pytest.raises(ManifestError, match="damaged"):
        open_manifest(tmp_path, LOCAL, resume=True, force=False)
