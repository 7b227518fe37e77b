"""The PubMed/MEDLINE reader on the real samples, both layouts, and on records written to show
each rule (markup, MathML, versions, deletions, books, records without text)."""

from __future__ import annotations

import gzip
import io
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from biotag.bulk.readers import InputFormat, detect, open_records
from biotag.bulk.readers.pubmed import read_pubmed
from biotag.bulk.records import Deletion, Document, Invalid, ReaderError, Record, Skipped

CURRENT = """<?xml version="1.0" ?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2024//EN" "x.dtd">
<PubmedArticleSet>
<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="2">111</PMID>
<Article><ArticleTitle>Role of <i>BRCA1</i> in H<sub>2</sub>O<sub>2</sub> stress.</ArticleTitle>
<Abstract>
  <AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Ca<sup>2+</sup> and
     <mml:math xmlns:mml="http://www.w3.org/1998/Math/MathML"><mml:mi>x</mml:mi></mml:math>
     matter.</AbstractText>
  <AbstractText Label="RESULTS" NlmCategory="RESULTS">TNF-&#x3b1; rose&#xa0;twofold.</AbstractText>
  <CopyrightInformation>Copyright 2024.</CopyrightInformation>
</Abstract></Article></MedlineCitation><PubmedData/></PubmedArticle>
<PubmedArticle><MedlineCitation><PMID Version="1">222</PMID>
<Article><ArticleTitle></ArticleTitle></Article></MedlineCitation></PubmedArticle>
<PubmedArticle><MedlineCitation><PMID Version="1">333</PMID>
<Article><ArticleTitle>Only a title.</ArticleTitle></Article></MedlineCitation></PubmedArticle>
<PubmedBookArticle><BookDocument><PMID Version="1">444</PMID>
<Book><BookTitle>A book.</BookTitle></Book>
<Abstract><AbstractText>Book abstract.</AbstractText></Abstract></BookDocument></PubmedBookArticle>
<PubmedArticle><MedlineCitation><Article><ArticleTitle>No PMID.</ArticleTitle></Article>
</MedlineCitation></PubmedArticle>
<DeleteCitation><PMID Version="1">555</PMID><PMID Version="3">666</PMID></DeleteCitation>
</PubmedArticleSet>
"""

OLDER = """<?xml version="1.0" encoding="UTF-8"?>
<MedlineCitationSet>
<MedlineCitation Owner="NLM" Status="MEDLINE">
<PMID Version="1">777</PMID>
<Article><ArticleTitle>Aspirin and
  asthma.</ArticleTitle>
<Abstract><AbstractText>Unstructured text.</AbstractText></Abstract></Article>
</MedlineCitation>
<DeleteCitation><PMID Version="1">888</PMID></DeleteCitation>
</MedlineCitationSet>
"""


def _read(xml: str, section_labels: bool = True) -> list[Record]:
    return list(read_pubmed(io.BytesIO(xml.encode("utf-8")), section_labels))


def test_current_layout_every_rule() -> None:
    records = _read(CURRENT)
    first = records[0]
    assert isinstance(first, Document)
    title = "Role of BRCA1 in H2O2 stress."
    assert first.text == (
        f"{title} BACKGROUND: Ca2+ and x matter. RESULTS: TNF-\u03b1 rose twofold."
    )
    assert first.title_end == len(title)
    assert first.id == "111.2"  # PMID.version, as PubMed keys it
    assert first.fields == {"pmid": "111", "version": "2"}
    assert records[1] == Skipped("222", "no title or abstract")
    assert records[2] == Document("333", "Only a title.", None, {"pmid": "333", "version": "1"})
    book = records[3]
    assert isinstance(book, Document)
    assert (book.id, book.text) == ("444", "A book. Book abstract.")
    assert isinstance(records[4], Invalid)
    assert records[5:] == [Deletion("555"), Deletion("666.3")]


def test_labels_can_be_left_out() -> None:
    first = _read(CURRENT, section_labels=False)[0]
    assert isinstance(first, Document)
    assert first.text.endswith("stress. Ca2+ and x matter. TNF-\u03b1 rose twofold.")


def test_older_medline_layout() -> None:
    assert _read(OLDER) == [
        Document(
            "777", "Aspirin and asthma. Unstructured text.", 19, {"pmid": "777", "version": "1"}
        ),
        Deletion("888"),
    ]


def test_not_pubmed_and_malformed_xml_fail_the_file() -> None:
    with pytest.raises(ReaderError, match="not PubMed XML"):
        _read("<collection><document/></collection>")
    with pytest.raises(ReaderError, match="malformed XML"):
        _read(CURRENT[: len(CURRENT) // 2])


def _all(path: Path) -> list[Record]:
    with open_records(path, detect(path)) as opened:
        return list(opened.records)


def test_the_2016_medline_sample(pubmed_samples: tuple[Path, Path]) -> None:
    medline, _ = pubmed_samples
    assert detect(medline) is InputFormat.PUBMED
    records = _all(medline)
    kinds = Counter(type(r).__name__ for r in records)
    assert kinds == {"Document": 604, "Deletion": 1}
    assert records[-1] == Deletion("26432306")
    documents = [r for r in records if isinstance(r, Document)]
    assert sum(d.title_end is not None for d in documents) == 526  # the README's count
    first = documents[0]
    assert first.id == "17942999"
    assert first.text.startswith(
        "Neuroplasticity in the processing of pitch dimensions: a multidimensional scaling "
        "analysis of the mismatch negativity. PURPOSE: An auditory electrophysiological study"
    )
    assert " METHODS: Mismatch negativity (MMN) responses" in first.text
    assert all("\n" not in d.text and "  " not in d.text for d in documents)


def test_the_current_pubmed_sample(pubmed_samples: tuple[Path, Path]) -> None:
    _, current = pubmed_samples
    documents = _all(current)
    assert [type(r) for r in documents] == [Document] * 4
    first = documents[0]
    assert isinstance(first, Document)
    assert first.text.startswith(
        "Back Pain: Differential Diagnosis and Management. Back pain is a common condition"
    )
    assert "for greater than 6 weeks" in first.text  # &#xa0; is a space like any other


def _repeated(medline: Path, times: int, target: Path) -> Path:
    """The sample's citations ``times`` over, in one file."""
    text = gzip.decompress(medline.read_bytes()).decode("utf-8")
    start = text.index("<MedlineCitation ")
    end = text.rindex("</MedlineCitationSet>")
    target.write_bytes(
        gzip.compress((text[:start] + text[start:end] * times + text[end:]).encode(), 1)
    )
    return target


def _peak_bytes(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = 0
        with open_records(path, InputFormat.PUBMED) as opened:
            for _ in opened.records:
                count += 1
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow  # 6,000 records read under tracemalloc: ~20 s
def test_memory_stays_flat_on_ten_times_the_sample(
    pubmed_samples: tuple[Path, Path], tmp_path: Path
) -> None:
    medline, _ = pubmed_samples
    once = _repeated(medline, 1, tmp_path / "once.xml.gz")
    ten = _repeated(medline, 10, tmp_path / "ten.xml.gz")
    count_once, peak_once = _peak_bytes(once)
    count_ten, peak_ten = _peak_bytes(ten)
    assert count_ten == 10 * count_once
    assert peak_ten < 1.5 * peak_once, (peak_once, peak_ten)
