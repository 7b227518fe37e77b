"""Corpus files -> records: the format of a file (from its name, and for XML its root element)
and a streaming reader for it, with how far into the file (in bytes on disk) reading is."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from biotag.bulk.records import ReaderError, Record


class InputFormat(StrEnum):
    PUBMED = "pubmed"
    BIOC_XML = "biocxml"
    BIOC_JSON = "biocjson"
    PUBTATOR = "pubtator"
    JSONL = "jsonl"
    TEXT = "text"


SUFFIXES = {
    ".jsonl": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
    ".json": InputFormat.BIOC_JSON,
    ".pubtator": InputFormat.PUBTATOR,
    ".txt": InputFormat.TEXT,
}
XML_ROOTS = {
    "PubmedArticleSet": InputFormat.PUBMED,
    "MedlineCitationSet": InputFormat.PUBMED,
    "collection": InputFormat.BIOC_XML,
}
SNIFF_BYTES = 1 << 14
_FIRST_ELEMENT = re.compile(rb"<([A-Za-z_][\w.:-]*)")
_COMMENT_OR_DECL = re.compile(rb"<!--.*?-->|<\?.*?\?>|<!DOCTYPE[^>]*>", re.DOTALL)


def base_name(path: Path) -> str:
    """The file's name without ``.gz``."""
    return path.name.removesuffix(".gz")


def readable(path: Path) -> bool:
    """Whether the file's name says it is a corpus file (folders are searched for these)."""
    name = base_name(path)
    return name.endswith(".xml") or any(name.endswith(suffix) for suffix in SUFFIXES)


def _open(path: Path) -> tuple[BinaryIO, BinaryIO]:
    raw = path.open("rb")
    if path.name.endswith(".gz"):
        return raw, gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    return raw, raw


def detect(path: Path) -> InputFormat:
    """The input format of ``path``; ReaderError when neither its name nor its root says."""
    name = base_name(path)
    for suffix, found in SUFFIXES.items():
        if name.endswith(suffix):
            return found
    if not name.endswith(".xml"):
        raise ReaderError(f"unknown input format (name it .xml, {', '.join(SUFFIXES)}, +.gz)")
    raw, stream = _open(path)
    try:
        head = stream.read(SNIFF_BYTES)
    except (OSError, EOFError) as exc:
        raise ReaderError(f"cannot read: {exc}") from exc
    finally:
        raw.close()
    found_root = _FIRST_ELEMENT.search(_COMMENT_OR_DECL.sub(b"", head))
    root = found_root.group(1).decode("ascii", "replace") if found_root else ""
    if root not in XML_ROOTS:
        raise ReaderError(f"XML root <{root}> is neither PubMed/MEDLINE nor a BioC collection")
    return XML_ROOTS[root]


@dataclass
class Opened:
    records: Iterator[Record]
    position: Callable[[], int]  # bytes of the file on disk read so far


@contextmanager
def open_records(
    path: Path, input_format: InputFormat, section_labels: bool = True
) -> Iterator[Opened]:
    from biotag.bulk.readers.bioc import read_bioc_json, read_bioc_xml
    from biotag.bulk.readers.jsonl import read_jsonl
    from biotag.bulk.readers.pubmed import read_pubmed
    from biotag.bulk.readers.pubtator import read_pubtator
    from biotag.bulk.readers.text import read_text

    raw, stream = _open(path)
    try:
        readers: dict[InputFormat, Callable[[], Iterator[Record]]] = {
            InputFormat.PUBMED: lambda: read_pubmed(stream, section_labels),
            InputFormat.BIOC_XML: lambda: read_bioc_xml(stream),
            InputFormat.BIOC_JSON: lambda: read_bioc_json(stream),
            InputFormat.PUBTATOR: lambda: read_pubtator(stream),
            InputFormat.JSONL: lambda: read_jsonl(stream),
            InputFormat.TEXT: lambda: read_text(stream, base_name(path).removesuffix(".txt")),
        }
        yield Opened(_guarded(readers[input_format]()), raw.tell)
    finally:
        raw.close()


def _guarded(records: Iterator[Record]) -> Iterator[Record]:
    """Damaged files (truncated gzip, I/O errors) fail as ReaderError, like malformed ones."""
    try:
        yield from records
    except (OSError, EOFError) as exc:
        raise ReaderError(f"cannot read: {exc}") from exc
