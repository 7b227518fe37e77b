"""BioC XML and JSON collections written by the `bioc` library, read back one document at a
time with the passages at their own offsets."""

from __future__ import annotations

import io
from pathlib import Path

import bioc
import pytest
from bioc import biocjson, biocxml

from biotag.bulk.readers import InputFormat, detect, open_records
from biotag.bulk.readers import bioc as reader
from biotag.bulk.records import Document, Invalid, ReaderError, Record, Skipped


def _collection() -> bioc.BioCCollection:
    collection = bioc.BioCCollection()
    for number, (title, abstract) in enumerate(
        [
            ("Cisplatin nephrotoxicity.", "Mice lacking p53 \u2014 were spared."),
            ("Title only, with \u00e9 and \U0001f600.", None),
            ("", None),
        ],
        start=1,
    ):
        document = bioc.BioCDocument()
        document.id = f"doc-{number}"
        for offset, text in ((0, title), (len(title) + 1, abstract)):
            if text is None:
                continue
            passage = bioc.BioCPassage()
            passage.offset = offset
            passage.text = text
            document.add_passage(passage)
        collection.add_document(document)
    return collection


EXPECTED: list[Record] = [
    Document("doc-1", "Cisplatin nephrotoxicity. Mice lacking p53 \u2014 were spared.", 25),
    Document("doc-2", "Title only, with \u00e9 and \U0001f600."),
    Skipped("doc-3", "no passage text"),
]


def test_bioc_xml_from_the_bioc_library(tmp_path: Path) -> None:
    path = tmp_path / "c.xml"
    path.write_text(biocxml.dumps(_collection()), encoding="utf-8")
    assert detect(path) is InputFormat.BIOC_XML
    with open_records(path, InputFormat.BIOC_XML) as opened:
        assert list(opened.records) == EXPECTED


def test_bioc_json_from_the_bioc_library_in_small_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.json"
    path.write_text(biocjson.dumps(_collection(), indent=2), encoding="utf-8")
    assert detect(path) is InputFormat.BIOC_JSON
    for read_bytes in (7, 64, 1 << 16):  # documents and keys cut anywhere between two reads
        monkeypatch.setattr(reader, "READ_BYTES", read_bytes)
        with open_records(path, InputFormat.BIOC_JSON) as opened:
            assert list(opened.records) == EXPECTED


def test_gaps_and_overlaps_between_passages() -> None:
    assert reader.layout("a", [(0, "T"), (5, "B")]) == Document("a", "T    B")
    assert isinstance(reader.layout("b", [(0, "Title"), (2, "x")]), Invalid)


def test_what_is_not_a_collection_fails() -> None:
    with pytest.raises(ReaderError, match="not BioC XML"):
        list(reader.read_bioc_xml(io.BytesIO(b"<PubmedArticleSet/>")))
    with pytest.raises(ReaderError, match='no "documents" list'):
        list(reader.read_bioc_json(io.BytesIO(b'{"source": "x"}')))
    with pytest.raises(ReaderError, match="ends inside"):
        list(reader.read_bioc_json(io.BytesIO(b'{"documents": [{"id": "1"}, ')))
