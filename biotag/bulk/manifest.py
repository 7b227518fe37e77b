"""The output folder's manifest (``biotag-manifest.json``): what made its parts (biotag version,
output format, assembly, each model's bundle and graph hash) and, per finished part, the input
it came from (size and SHA-256) and its counts. Rewritten atomically after every part, so a
rerun with ``--resume`` trusts exactly the parts it lists."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from biotag.bulk.writer import write_atomically

MANIFEST_FILE = "biotag-manifest.json"
FORMAT_VERSION = 1
HASH_BLOCK = 1 << 20

Identity = dict[str, Any]  # biotag, output, section_labels, models: {name: {key: value}}


class ManifestError(Exception):
    """The output folder cannot be resumed as asked; one-line message."""


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def identity_differences(old: Identity, new: Identity) -> list[str]:
    """What differs between the identities of two runs. Models compare on the keys both record
    (a service over HTTP does not tell its graphs' hashes; in process they are known)."""
    found = [
        f"{key}: {old.get(key)!r} -> {new.get(key)!r}"
        for key in ("biotag", "output", "section_labels", "limit")
        if old.get(key) != new.get(key)
    ]
    old_models, new_models = old.get("models", {}), new.get("models", {})
    if sorted(old_models) != sorted(new_models):
        found.append(f"models: {sorted(old_models)} -> {sorted(new_models)}")
        return found
    for name in sorted(new_models):
        for key in sorted(set(old_models[name]) & set(new_models[name])):
            if old_models[name][key] != new_models[name][key]:
                found.append(
                    f"model {name} {key}: {old_models[name][key]} -> {new_models[name][key]}"
                )
    return found


@dataclass
class Manifest:
    path: Path
    identity: Identity
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)  # part name -> its entry

    @classmethod
    def load(cls, directory: Path) -> Manifest | None:
        path = directory / MANIFEST_FILE
        if not path.is_file():
            return None
        try:
            data = orjson.loads(path.read_bytes())
            if data.get("format_version") != FORMAT_VERSION:
                raise ManifestError(f"{path}: unknown format_version {data.get('format_version')}")
            return cls(path, data["identity"], dict(data["parts"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ManifestError(f"{path} is damaged ({exc}); move it away to start afresh") from exc

    def save(self) -> None:
        data = {"format_version": FORMAT_VERSION, "identity": self.identity, "parts": self.parts}
        write_atomically(self.path, orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n")

    def finished(self, part: str, input_path: Path, identity: Identity, force: bool) -> bool:
        """Whether ``part`` is done for this very input (same size and content) and its file is
        in place, made by a compatible run (any run, with ``force``)."""
        entry = self.parts.get(part)
        if entry is None or not (self.path.parent / entry["file"]).is_file():
            return False
        if entry["input_bytes"] != input_path.stat().st_size:
            return False
        if not force and identity_differences(entry["identity"], identity):
            return False
        return bool(entry["input_sha256"] == file_sha256(input_path))


def open_manifest(directory: Path, identity: Identity, resume: bool, force: bool) -> Manifest:
    """The folder's manifest for this run; refuses a folder with finished parts unless resuming,
    and a resume under another identity (other models, format, version) unless forced."""
    existing = Manifest.load(directory)
    if existing is None or not existing.parts:
        return Manifest(directory / MANIFEST_FILE, identity)
    if not resume:
        raise ManifestError(
            f"{directory} already holds {len(existing.parts)} finished part(s) "
            f"({MANIFEST_FILE}); rerun with --resume to go on, or write to another folder"
        )
    differences = identity_differences(existing.identity, identity)
    if differences and not force:
        raise ManifestError(
            f"{directory} was tagged differently ({'; '.join(differences)}); resuming would mix "
            "outputs: use another folder, or --force to mix them (each part records its own)"
        )
    existing.identity = identity
    return existing
