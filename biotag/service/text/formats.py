"""The /tag answer in each output format: JSON, PubTator, BioC XML and BioC JSON.

Pure functions of the tagged documents. Offsets are Unicode code points in every format, as in
the JSON; where a format cannot carry a character, it is replaced by one other character, so
offsets never move (PubTator's title/abstract split aside, see `pubtator_text`).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import orjson

from biotag.service.text.entities import Entity


class OutputFormat(StrEnum):
    JSON = "json"
    PUBTATOR = "pubtator"
    BIOC_XML = "biocxml"
    BIOC_JSON = "biocjson"


MEDIA_TYPES = {
    OutputFormat.JSON: "application/json",
    OutputFormat.PUBTATOR: "text/plain; charset=utf-8",
    OutputFormat.BIOC_XML: "application/xml",
    OutputFormat.BIOC_JSON: "application/json",
}
SOURCE = "biotag"
# PubTator's sixth column is a concept identifier; biotag recognises mentions, it does not
# normalise them, and an empty last column is lost to readers that strip lines
NO_CONCEPT = "-"


@dataclass(frozen=True)
class TaggedDocument:
    id: str
    text: str
    entities: Sequence[Entity]


# everything str.splitlines() breaks at: a PubTator reader splitting lines would cut the text
_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_LINE_BREAK = re.compile(f"\r\n|[{_BREAKS}]")
_TO_SPACE = str.maketrans(dict.fromkeys(_BREAKS + "\t", " "))
# not allowed in XML 1.0 documents, even as character references
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def pubtator_id_problem(document_id: str) -> str | None:
    """Why this id cannot head PubTator lines (`ID|t|`, `ID<TAB>start...`), or None."""
    if not document_id:
        return "PubTator needs a non-empty document id"
    if _LINE_BREAK.search(document_id) or any(c in document_id for c in "|\t"):
        return "a PubTator document id cannot hold '|', tabs or line breaks"
    return None


def pubtator_text(text: str) -> tuple[str, str | None, int, int]:
    """(title, abstract, break position, code points the break loses) of a text.

    The first line is the title and the rest the abstract, so that PubTator's offsets, which
    index ``title + " " + abstract``, are the text's own: one code point separates title and
    abstract there, and a two-code-point CRLF break moves later offsets down by one. Further
    line breaks, and tabs (PubTator's column separator), become spaces. A text without a line
    break is all title.
    """
    found = _LINE_BREAK.search(text)
    if found is None:
        return text.translate(_TO_SPACE), None, len(text), 0
    title = text[: found.start()].translate(_TO_SPACE)
    abstract = text[found.end() :].translate(_TO_SPACE)
    return title, abstract, found.start(), len(found.group()) - 1


def to_json(documents: Sequence[TaggedDocument], models: list[str]) -> bytes:
    # orjson writes each Entity dataclass as the TagResponse schema's entity object
    return orjson.dumps(
        {
            "documents": [{"id": d.id, "entities": d.entities} for d in documents],
            "models": models,
        }
    )


def to_pubtator(documents: Sequence[TaggedDocument]) -> bytes:
    """`ID|t|title`, `ID|a|abstract`, one tab-separated line per mention, a blank line after
    each document. Ids must pass `pubtator_id_problem`."""
    lines: list[str] = []
    for document in documents:
        title, abstract, break_at, lost = pubtator_text(document.text)
        lines.append(f"{document.id}|t|{title}")
        flat = title
        if abstract is not None:
            lines.append(f"{document.id}|a|{abstract}")
            flat = f"{title} {abstract}"
        for entity in document.entities:
            start = entity.start if entity.start <= break_at else entity.start - lost
            # an end inside a CRLF break ends after the one space standing for it
            end = entity.end if entity.end <= break_at else max(entity.end - lost, break_at + 1)
            mention = flat[start:end]
            lines.append(f"{document.id}\t{start}\t{end}\t{mention}\t{entity.type}\t{NO_CONCEPT}")
        lines.append("")
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _annotation_infons(entity: Entity) -> dict[str, str]:
    # BioC infons are strings
    return {"type": entity.type, "score": f"{entity.score:.4f}", "model": entity.model}


def to_bioc_json(documents: Sequence[TaggedDocument], models: list[str], today: date) -> bytes:
    """A BioC collection in the JSON layout of the `bioc` library and PubTator3's biocjson:
    one passage per document, at offset 0, holding its whole text."""
    collection = {
        "source": SOURCE,
        "date": today.strftime("%Y%m%d"),
        "key": "",
        "infons": {"models": ",".join(models)},
        "documents": [
            {
                "id": document.id,
                "infons": {},
                "passages": [
                    {
                        "offset": 0,
                        "infons": {},
                        "text": document.text,
                        "sentences": [],
                        "annotations": [
                            {
                                "id": f"T{number}",
                                "infons": _annotation_infons(entity),
                                "text": entity.text,
                                "locations": [
                                    {"offset": entity.start, "length": entity.end - entity.start}
                                ],
                            }
                            for number, entity in enumerate(document.entities, start=1)
                        ],
                        "relations": [],
                    }
                ],
                "annotations": [],
                "relations": [],
            }
            for document in documents
        ],
    }
    return orjson.dumps(collection)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _child(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = _xml_text(text)
    return element


def to_bioc_xml(documents: Sequence[TaggedDocument], models: list[str], today: date) -> bytes:
    """A BioC XML collection (BioC.dtd): one passage per document, at offset 0. Characters XML
    1.0 cannot carry (most C0 controls) become U+FFFD; a carriage return is written as a
    character reference, which XML parsers, unlike a raw CR, do not turn into a line feed."""
    collection = ET.Element("collection")
    _child(collection, "source", SOURCE)
    _child(collection, "date", today.strftime("%Y%m%d"))
    _child(collection, "key", "")
    _child(collection, "infon", ",".join(models), key="models")
    for document in documents:
        element = _child(collection, "document")
        _child(element, "id", document.id)
        passage = _child(element, "passage")
        _child(passage, "offset", "0")
        _child(passage, "text", document.text)
        for number, entity in enumerate(document.entities, start=1):
            annotation = _child(passage, "annotation", id=f"T{number}")
            for key, value in _annotation_infons(entity).items():
                _child(annotation, "infon", value, key=key)
            _child(
                annotation,
                "location",
                offset=str(entity.start),
                length=str(entity.end - entity.start),
            )
            _child(annotation, "text", entity.text)
    body = ET.tostring(collection, encoding="unicode").replace("\r", "&#13;")
    head = "<?xml version='1.0' encoding='UTF-8'?>\n<!DOCTYPE collection SYSTEM 'BioC.dtd'>\n"
    return (head + body).encode("utf-8")


def render(
    output: OutputFormat, documents: Sequence[TaggedDocument], models: list[str], today: date
) -> bytes:
    if output is OutputFormat.PUBTATOR:
        return to_pubtator(documents)
    if output is OutputFormat.BIOC_XML:
        return to_bioc_xml(documents, models, today)
    if output is OutputFormat.BIOC_JSON:
        return to_bioc_json(documents, models, today)
    return to_json(documents, models)
