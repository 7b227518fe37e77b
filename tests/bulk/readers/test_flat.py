"""PubTator, JSONL and plain text: flat formats read as they are."""

from __future__ import annotations

import io
from pathlib import Path

from biotag.bulk.readers import InputFormat, detect, open_records
from biotag.bulk.readers.jsonl import read_jsonl
from biotag.bulk.readers.pubtator import read_pubtator
from biotag.bulk.records import Document, Invalid, Skipped

PUBTATOR = (
    "1|t|Cisplatin nephrotoxicity.\n"
    "1|a|Mice were spared.\n"
    "1\t0\t9\tCisplatin\tChemical\tD002945\n"
    "\n"
    "2|t|Title only.\n"
    "3|t|\n"
    "3|a|Abstract after an empty title.\n"
    "\n\n"
    "4|t|\n"
)


def test_pubtator_blocks_with_or_without_blank_lines() -> None:
    assert list(read_pubtator(io.BytesIO(PUBTATOR.encode()))) == [
        Document("1", "Cisplatin nephrotoxicity. Mice were spared.", 25),
        Document("2", "Title only."),
        Document("3", " Abstract after an empty title.", 0),
        Skipped("4", "no title or abstract"),
    ]


def test_jsonl_text_or_title_and_abstract_and_bad_lines() -> None:
    lines = [
        b'{"id": "a", "text": "Aspirin\\r\\nand asthma."}',
        b"",
        b'{"id": 7, "title": "T.", "abstract": "A."}',
        b'{"id": "e", "text": "  "}',
        b"not json",
        b'{"text": "no id"}',
        b'["a list"]',
        b'{"id": "b", "passages": [{"offset": 0, "text": "T."}, {"offset": 3, "text": "A."}]}',
    ]
    records = list(read_jsonl(io.BytesIO(b"\n".join(lines))))
    assert records[:3] == [
        Document("a", "Aspirin\r\nand asthma."),
        Document("7", "T. A.", 2),
        Skipped("e", "empty text"),
    ]
    assert [type(r) for r in records[3:6]] == [Invalid, Invalid, Invalid]
    assert [r.id for r in records[3:6]] == ["line 5", "line 6", "line 7"]
    assert records[6] == Document("b", "T. A.", 2)  # a BioC JSON Lines document


def test_a_text_file_is_one_document(tmp_path: Path) -> None:
    path = tmp_path / "note.txt"
    path.write_text("Cisplatin\nnephrotoxicity.\n", encoding="utf-8")
    assert detect(path) is InputFormat.TEXT
    with open_records(path, InputFormat.TEXT) as opened:
        assert list(opened.records) == [Document("note", "Cisplatin\nnephrotoxicity.\n")]


def test_gzipped_jsonl_and_reading_position(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "docs.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"id": "a", "text": "x"}\n' * 1000))
    assert detect(path) is InputFormat.JSONL
    with open_records(path, InputFormat.JSONL) as opened:
        assert sum(1 for _ in opened.records) == 1000
        assert opened.position() == path.stat().st_size
