"""One output part per input file, in any of `OutputFormat`'s layouts or JSONL, written to a
temporary file, fsync'ed and renamed into place (then the folder fsync'ed): a part that exists
under its final name is whole. Documents are rendered by the service's own formatters, so a
part holds the same bytes POST /tag would return for its documents."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

import orjson

from biotag.bulk.records import Deletion, Document
from biotag.service.text.entities import Entity
from biotag.service.text.formats import (
    OutputFormat,
    TaggedDocument,
    pubtator_id_problem,
    render,
)

TEMPORARY_SUFFIX = ".tmp"


class PartFormat(StrEnum):
    JSONL = "jsonl"
    PUBTATOR = "pubtator"
    BIOC_XML = "biocxml"
    BIOC_JSON = "biocjson"


EXTENSIONS = {
    PartFormat.JSONL: ".jsonl",
    PartFormat.PUBTATOR: ".pubtator",
    PartFormat.BIOC_XML: ".bioc.xml",
    PartFormat.BIOC_JSON: ".bioc.json",
}
# what str.splitlines() breaks at: in a title, each becomes a space (one code point for one)
_TITLE_BREAKS = str.maketrans(dict.fromkeys("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", " "))
_COLLECTION_END = {PartFormat.BIOC_XML: b"</collection>", PartFormat.BIOC_JSON: b"]}"}


@dataclass(frozen=True)
class TaggedRecord:
    document: Document
    entities: list[Entity]


def fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_atomically(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + TEMPORARY_SUFFIX)
    with temporary.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    fsync_directory(path.parent)


def document_problem(output: PartFormat, document: Document) -> str | None:
    """Why ``document`` cannot be written in ``output``, or None."""
    return pubtator_id_problem(document.id) if output is PartFormat.PUBTATOR else None


def _for_pubtator(record: TaggedRecord) -> TaggedDocument:
    """The title ends at a line break, which `to_pubtator` reads as the title/abstract split;
    the break takes the separating space's one code point (and breaks inside the title become
    spaces, one for one), so no offset moves."""
    document = record.document
    text = document.text
    if document.title_end is not None:
        title = text[: document.title_end].translate(_TITLE_BREAKS)
        text = f"{title}\n{text[document.title_end + 1 :]}"
    return TaggedDocument(document.id, text, record.entities)


class PartWriter:
    """Writes one part: ``write`` chunks in order, then ``commit`` (or ``discard``)."""

    def __init__(
        self,
        directory: Path,
        part: str,
        output: PartFormat,
        models: list[str],
        source: str,
        today: date,
    ) -> None:
        self.path = directory / f"{part}{EXTENSIONS[output]}"
        self.temporary = self.path.with_name(self.path.name + TEMPORARY_SUFFIX)
        self._output = output
        self._models = models
        self._source = source
        self._today = today
        self._documents = 0
        self._head = b""
        if output in _COLLECTION_END:  # the collection's own lines, before its documents
            self._head = self._render([])[: -len(_COLLECTION_END[output])]
        self._handle: BinaryIO = self.temporary.open("wb")
        self._handle.write(self._head)

    def _render(self, documents: Sequence[TaggedDocument]) -> bytes:
        return render(OutputFormat(self._output.value), documents, self._models, self._today)

    def write(self, records: Sequence[TaggedRecord | Deletion]) -> None:
        self._handle.write(self._encode(records))
        self._handle.flush()  # a killed run leaves what it wrote: progress shows, never "done"

    def _encode(self, records: Sequence[TaggedRecord | Deletion]) -> bytes:
        if self._output is PartFormat.JSONL:
            return b"".join(self._json_line(record) for record in records)
        tagged = [record for record in records if isinstance(record, TaggedRecord)]
        if not tagged:
            return b""
        if self._output is PartFormat.PUBTATOR:
            return self._render([_for_pubtator(record) for record in tagged])
        documents = [TaggedDocument(r.document.id, r.document.text, r.entities) for r in tagged]
        body = self._render(documents)[len(self._head) :]
        body = body[: -len(_COLLECTION_END[self._output])]
        comma = b"," if self._output is PartFormat.BIOC_JSON and self._documents else b""
        self._documents += len(tagged)
        return comma + body

    def _json_line(self, record: TaggedRecord | Deletion) -> bytes:
        if isinstance(record, Deletion):
            line = {"id": record.id, "source": self._source, "deleted": True}
        else:
            document = record.document
            line = {
                "id": document.id,
                "source": self._source,
                **document.fields,
                "entities": record.entities,
            }
        return orjson.dumps(line) + b"\n"

    def commit(self) -> Path:
        if self._output in _COLLECTION_END:
            self._handle.write(_COLLECTION_END[self._output])
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self.temporary, self.path)
        fsync_directory(self.path.parent)
        return self.path

    def discard(self) -> None:
        self._handle.close()
        self.temporary.unlink(missing_ok=True)
