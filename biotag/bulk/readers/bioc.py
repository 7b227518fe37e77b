"""BioC XML and BioC JSON collections, streamed one document at a time.

A document's text is its passages laid out at their own offsets (the gap before a passage is
filled with spaces), so BioC offsets, and PubTator3's title/abstract passages, index it as they
did: a title passage at 0 and an abstract at ``len(title) + 1`` give ``title + " " + abstract``.
"""

from __future__ import annotations

import codecs
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any, BinaryIO

from biotag.bulk.readers.xml_stream import root_children
from biotag.bulk.records import Document, Invalid, ReaderError, Record, Skipped

READ_BYTES = 1 << 16


def layout(identifier: str, passages: list[tuple[int, str]]) -> Record:
    """The document of ``passages`` (offset, text), or why it has none."""
    text = ""
    spans = []
    for offset, passage in sorted(passages):
        if not passage:
            continue
        if offset < len(text):
            return Invalid(identifier, f"passage at offset {offset} overlaps the one before")
        text += " " * (offset - len(text)) + passage
        spans.append((offset, offset + len(passage)))
    if not text.strip():
        return Skipped(identifier, "no passage text")
    # a title and what follows one space after it: PubTator's title/abstract split
    title_end = spans[0][1] if len(spans) > 1 and spans[1][0] == spans[0][1] + 1 else None
    return Document(identifier, text, title_end)


def read_bioc_xml(stream: BinaryIO) -> Iterator[Record]:
    position = 0
    for element in root_children(stream, ("collection",), "BioC XML"):
        if element.tag == "document":
            position += 1
            yield _xml_document(element, position)


def _xml_document(element: ET.Element, position: int) -> Record:
    identifier = (element.findtext("id") or "").strip()
    if not identifier:
        return Invalid(f"document {position}", "no id")
    passages = []
    for passage in element.findall("passage"):
        offset = (passage.findtext("offset") or "0").strip()
        if not offset.isdigit():
            return Invalid(identifier, f"passage offset {offset!r} is not a number")
        passages.append((int(offset), passage.findtext("text") or ""))
    return layout(identifier, passages)


_DOCUMENTS = re.compile(r'"documents"\s*:\s*\[')
_BETWEEN = " \t\r\n,"  # between two documents of the list


def read_bioc_json(stream: BinaryIO) -> Iterator[Record]:
    """The documents of a BioC JSON collection, decoded one at a time from a sliding buffer:
    memory is bounded by the largest document, not the file."""
    decoder = json.JSONDecoder()
    text = codecs.getincrementaldecoder("utf-8")()
    buffer = ""
    eof = False

    def fill() -> bool:
        nonlocal buffer, eof
        chunk = stream.read(READ_BYTES)
        eof = not chunk
        buffer += text.decode(chunk, final=eof)
        return not eof

    try:
        found = _DOCUMENTS.search(buffer)
        while found is None:
            if not fill():
                raise ReaderError('not a BioC JSON collection: no "documents" list')
            found = _DOCUMENTS.search(buffer)
            if found is None:
                buffer = buffer[-64:]  # a key split between reads is found on the next one
        buffer = buffer[found.end() :]
        position = 0
        while True:
            buffer = buffer.lstrip(_BETWEEN)
            if not buffer:
                if not fill():
                    raise ReaderError("BioC JSON ends inside the documents list")
                continue
            if buffer.startswith("]"):
                return
            try:
                value, end = decoder.raw_decode(buffer)
            except json.JSONDecodeError as exc:
                if fill():
                    continue  # the document goes on past the buffer
                raise ReaderError(f"malformed BioC JSON: {exc}") from exc
            buffer = buffer[end:]
            position += 1
            yield bioc_document(value, position)
    except UnicodeDecodeError as exc:
        raise ReaderError(f"not UTF-8: {exc}") from exc


def bioc_document(value: Any, position: int) -> Record:
    """A BioC JSON document (a dict) as a record."""
    if not isinstance(value, dict):
        return Invalid(f"document {position}", "a document is not a JSON object")
    identifier = str(value.get("id") or "").strip()
    if not identifier:
        return Invalid(f"document {position}", "no id")
    passages = []
    for passage in value.get("passages") or []:
        if not isinstance(passage, dict) or not isinstance(passage.get("offset", 0), int):
            return Invalid(identifier, "a passage is not an object with an integer offset")
        passages.append((int(passage.get("offset", 0)), str(passage.get("text") or "")))
    return layout(identifier, passages)
