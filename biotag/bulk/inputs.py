"""Command-line inputs (files, globs, folders) -> the input files in a deterministic order, each
with its format and the name of its output part."""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

from biotag.bulk.readers import InputFormat, base_name, detect, readable
from biotag.bulk.records import ReaderError

_DIGITS = re.compile(r"(\d+)")


class InputError(Exception):
    """The inputs cannot be used as given; one-line message."""


@dataclass(frozen=True)
class InputFile:
    path: Path
    format: InputFormat
    part: str  # the output part's name without extension: the input's name without suffixes

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def natural_key(path: Path) -> list[str | int]:
    """pubmed24n2.xml before pubmed24n10.xml: numbers compare as numbers."""
    return [int(p) if p.isdigit() else p for p in _DIGITS.split(str(path))]


def part_name(path: Path) -> str:
    name = base_name(path)
    for suffix in (".xml", ".jsonl", ".ndjson", ".json", ".pubtator", ".txt"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def expand(arguments: list[str], forced: InputFormat | None = None) -> list[InputFile]:
    """Each argument in the order given: a file; a folder (its corpus files, recursively, in
    natural order); or a glob (its matches in natural order)."""
    paths: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.is_file() and readable(p)]
            if not found:
                raise InputError(f"{argument}: no corpus files in this folder")
            paths.extend(sorted(found, key=natural_key))
        elif path.is_file():
            paths.append(path)
        else:
            matches = [Path(p) for p in glob.glob(argument, recursive=True) if Path(p).is_file()]
            if not matches:
                raise InputError(f"{argument}: no such file, folder or matching files")
            paths.extend(sorted(matches, key=natural_key))
    unique: dict[Path, Path] = {}
    for path in paths:
        unique.setdefault(path.resolve(), path)
    files: list[InputFile] = []
    parts: dict[str, Path] = {}
    for path in unique.values():
        part = part_name(path)
        if part in parts:
            raise InputError(
                f"{path} and {parts[part]} would both be written as part {part!r}; "
                "tag them into different output folders"
            )
        parts[part] = path
        try:
            input_format = forced or detect(path)
        except ReaderError as exc:
            raise InputError(f"{path}: {exc}") from exc
        files.append(InputFile(path, input_format, part))
    return files
