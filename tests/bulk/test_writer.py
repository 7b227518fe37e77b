"""Parts written in chunks hold the bytes the service's formatters give for all their
documents at once; nothing appears under a part's final name before it is whole."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import orjson
import pytest
from bioc import biocjson, biocxml, pubtator

from biotag.bulk.records import Deletion, Document
from biotag.bulk.writer import PartFormat, PartWriter, TaggedRecord
from biotag.service.text.entities import Entity
from biotag.service.text.formats import OutputFormat, TaggedDocument, render

TODAY = date(2026, 12, 1)
MODELS = ["disease", "chemical"]
TITLE = "Cisplatin nephrotoxicity\r."
ABSTRACT = "Mice \U0001f600 lacking p53 were spared."


def _records() -> list[TaggedRecord]:
    text = f"{TITLE} {ABSTRACT}"
    cisplatin = Entity(0, 9, "Cisplatin", "Chemical", 0.99, "chemical")
    start = text.index("p53")
    p53 = Entity(start, start + 3, "p53", "Gene", 0.9, "gene")
    return [
        TaggedRecord(Document(f"d{n}", text, len(TITLE), {"pmid": f"d{n}"}), [cisplatin, p53])
        for n in range(5)
    ]


def _write(tmp_path: Path, output: PartFormat, sizes: list[int]) -> bytes:
    directory = tmp_path / ("w" + "-".join(map(str, sizes)))
    directory.mkdir()
    writer = PartWriter(directory, "part", output, MODELS, "in.xml", TODAY)
    records = _records()
    cursor = 0
    for size in sizes:
        writer.write(records[cursor : cursor + size])
        cursor += size
    assert not writer.path.exists()  # not before commit
    assert writer.temporary.exists()
    path = writer.commit()
    assert not writer.temporary.exists()
    return path.read_bytes()


@pytest.mark.parametrize("output", [PartFormat.BIOC_XML, PartFormat.BIOC_JSON])
def test_bioc_parts_are_the_formatters_bytes(tmp_path: Path, output: PartFormat) -> None:
    documents = [TaggedDocument(r.document.id, r.document.text, r.entities) for r in _records()]
    whole = render(OutputFormat(output.value), documents, MODELS, TODAY)
    assert _write(tmp_path, output, [2, 0, 3]) == whole
    assert _write(tmp_path, output, [5]) == whole
    reader = biocxml if output is PartFormat.BIOC_XML else biocjson
    collection = reader.loads(whole.decode("utf-8"))
    assert [d.id for d in collection.documents] == [f"d{n}" for n in range(5)]


def test_an_empty_part_is_an_empty_collection(tmp_path: Path) -> None:
    data = _write(tmp_path, PartFormat.BIOC_JSON, [])
    assert data == render(OutputFormat.BIOC_JSON, [], MODELS, TODAY)


def test_pubtator_part_splits_title_and_abstract_without_moving_offsets(tmp_path: Path) -> None:
    data = _write(tmp_path, PartFormat.PUBTATOR, [1, 4])
    documents = pubtator.loads(data.decode("utf-8"))
    assert len(documents) == 5
    for document, record in zip(documents, _records(), strict=True):
        assert document.title == TITLE.replace("\r", " ")  # PubTator cannot carry a CR
        assert document.abstract == ABSTRACT
        flat = f"{document.title} {document.abstract}"
        got = [(a.start, a.end, a.text, a.type) for a in document.annotations]
        assert got == [(e.start, e.end, flat[e.start : e.end], e.type) for e in record.entities]


def test_jsonl_lines_and_deletions(tmp_path: Path) -> None:
    writer = PartWriter(tmp_path, "part", PartFormat.JSONL, MODELS, "in.xml", TODAY)
    writer.write([_records()[0], Deletion("9")])
    lines = [orjson.loads(line) for line in writer.commit().read_bytes().splitlines()]
    assert lines[0]["id"] == "d0"
    assert lines[0]["source"] == "in.xml"
    assert lines[0]["pmid"] == "d0"
    start = _records()[0].document.text.index("p53")
    assert lines[0]["entities"][1] == {
        "start": start, "end": start + 3, "text": "p53", "type": "Gene", "score": 0.9,
        "model": "gene",
    }  # fmt: skip
    assert lines[1] == {"id": "9", "source": "in.xml", "deleted": True}


def test_discard_leaves_nothing(tmp_path: Path) -> None:
    writer = PartWriter(tmp_path, "part", PartFormat.JSONL, MODELS, "in.xml", TODAY)
    writer.write(_records())
    writer.discard()
    assert list(tmp_path.iterdir()) == []
