"""PubMed / MEDLINE citation XML, streamed: the current ``PubmedArticleSet`` layout (baseline and
update files, ``PubmedArticle`` and ``PubmedBookArticle``) and the older ``MedlineCitationSet``.

Each record is handled at its end tag and then dropped from the tree (``root.clear()``), so
memory stays flat whatever the file size. Title and abstract are taken with ``itertext()``,
which keeps the text inside inline markup (``<i>``, ``<sup>``, ``<sub>``, MathML) and drops
the tags; assembly follows `biotag.bulk.assembly`. The document id is the PMID, with
``.VERSION`` appended when the PMID's ``Version`` is not 1 (``PMID.version`` is PubMed's unique
key). ``DeleteCitation`` entries become `Deletion` records, in file order.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import BinaryIO

from biotag.bulk.assembly import Section, abstract_text, assemble, normalize_space
from biotag.bulk.readers.xml_stream import root_children
from biotag.bulk.records import Deletion, Document, Invalid, Record, Skipped

ROOTS = ("PubmedArticleSet", "MedlineCitationSet")


def _text(element: ET.Element | None) -> str:
    return normalize_space("".join(element.itertext())) if element is not None else ""


def document_id(pmid: ET.Element) -> tuple[str, dict[str, str]]:
    number = (pmid.text or "").strip()
    version = (pmid.get("Version") or "1").strip()
    fields = {"pmid": number, "version": version}
    return (number if version == "1" else f"{number}.{version}"), fields


def _sections(abstract: ET.Element | None) -> list[Section]:
    if abstract is None:
        return []
    return [
        Section(normalize_space(part.get("Label") or "") or None, _text(part))
        for part in abstract.findall("AbstractText")
    ]


def _citation_record(
    pmid: ET.Element | None,
    title: ET.Element | None,
    abstract: ET.Element | None,
    section_labels: bool,
    position: int,
) -> Record:
    if pmid is None or not (pmid.text or "").strip():
        return Invalid(f"record {position}", "no PMID")
    identifier, fields = document_id(pmid)
    assembled = assemble(_text(title), abstract_text(_sections(abstract), section_labels))
    if assembled is None:
        return Skipped(identifier, "no title or abstract")
    return Document(identifier, assembled.text, assembled.title_end, fields)


def _record(element: ET.Element, section_labels: bool, position: int) -> Iterator[Record]:
    tag = element.tag
    if tag == "DeleteCitation":
        for pmid in element.findall("PMID"):
            yield Deletion(document_id(pmid)[0])
        return
    if tag == "PubmedBookArticle":
        book = element.find("BookDocument")
        if book is None:
            yield Invalid(f"record {position}", "PubmedBookArticle without BookDocument")
            return
        title = book.find("ArticleTitle")
        if title is None:
            title = book.find("Book/BookTitle")
        yield _citation_record(
            book.find("PMID"), title, book.find("Abstract"), section_labels, position
        )
        return
    citation = element.find("MedlineCitation") if tag == "PubmedArticle" else element
    if citation is None:
        yield Invalid(f"record {position}", f"{tag} without MedlineCitation")
        return
    yield _citation_record(
        citation.find("PMID"),
        citation.find("Article/ArticleTitle"),
        citation.find("Article/Abstract"),
        section_labels,
        position,
    )


RECORD_TAGS = {"PubmedArticle", "PubmedBookArticle", "MedlineCitation", "DeleteCitation"}


def read_pubmed(stream: BinaryIO, section_labels: bool = True) -> Iterator[Record]:
    position = 0
    for element in root_children(stream, ROOTS, "PubMed XML"):
        if element.tag in RECORD_TAGS:
            position += 1
            yield from _record(element, section_labels, position)
