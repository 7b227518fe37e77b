"""IOB and PubTator readers: exact gold character spans, type mapping, errors."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from biotag.evaluation.datasets import (
    DEFAULT_TYPE_MAP,
    DatasetError,
    GoldDocument,
    align_types,
    detect_format,
    grouped,
    iob_chunks,
    load_dataset,
    parse_type_map,
    read_iob,
    read_pubtator,
)
from biotag.evaluation.scoring import Span, score

IOB = """\
Patients\tO
with\tO
cystic\tB-Disease
fibrosis\tI-Disease
were\tO
given\tO
cisplatin\tB-Chemical
.\tO

BRCA1\tB-GENE
causes\tO
breast\tB-Disease
cancer\tI-Disease
"""

PUBTATOR = """\
111|t|Cystic fibrosis in children.
111|a|Patients with breast cancer or leukemia were enrolled.
111\t0\t15\tCystic fibrosis\tSpecificDisease\tD003550
111\t43\t56\tbreast cancer\tSpecificDisease\tD001943
111\t60\t68\tleukemia\tDiseaseClass\tD007938

222|t|Huntington disease
222|a|No mentions here.
"""


def test_iob_sentences_become_space_joined_documents() -> None:
    documents = read_iob(IOB.splitlines(keepends=True))
    assert [d.text for d in documents] == [
        "Patients with cystic fibrosis were given cisplatin .",
        "BRCA1 causes breast cancer",
    ]
    first, second = documents
    assert first.spans == (Span(14, 29, "Disease"), Span(41, 50, "Chemical"))
    assert second.spans == (Span(0, 5, "GENE"), Span(13, 26, "Disease"))
    for document in documents:
        assert [document.text[s.start : s.end] for s in document.spans] in (
            ["cystic fibrosis", "cisplatin"],
            ["BRCA1", "breast cancer"],
        )


def test_iob_chunks_are_lenient_like_seqeval() -> None:
    tags = ["I-Disease", "I-Disease", "O", "I-Chemical", "I-Disease", "B-Disease", "I-Disease"]
    assert iob_chunks(tags) == [
        ("Disease", 0, 2),  # I after the start of the sentence opens an entity
        ("Chemical", 3, 4),
        ("Disease", 4, 5),  # I of another type opens a new entity
        ("Disease", 5, 7),  # B always opens one
    ]
    assert iob_chunks(["B-A-b", "I-A-b"]) == [("A-b", 0, 2)]  # hyphens inside a type


def test_iob_errors_name_the_line() -> None:
    with pytest.raises(DatasetError, match=r"<iob>:2: .*'E-Disease'"):
        read_iob(["a\tO\n", "b\tE-Disease\n"])
    with pytest.raises(DatasetError, match=r"<iob>:1: expected"):
        read_iob(["no tag here\n"])


def test_pubtator_title_space_abstract_with_gold_offsets() -> None:
    documents = read_pubtator(PUBTATOR.splitlines(keepends=True))
    assert documents == [
        GoldDocument(
            "111",
            "Cystic fibrosis in children. Patients with breast cancer or leukemia were enrolled.",
            (
                Span(0, 15, "SpecificDisease"),
                Span(43, 56, "SpecificDisease"),
                Span(60, 68, "DiseaseClass"),
            ),
        ),
        GoldDocument("222", "Huntington disease No mentions here.", ()),
    ]


def test_pubtator_offsets_must_point_at_the_mention() -> None:
    broken = PUBTATOR.replace("111\t43\t56", "111\t44\t57")
    with pytest.raises(DatasetError, match=r"<pubtator>:4: mention 'breast cancer'"):
        read_pubtator(broken.splitlines())


def test_type_map_defaults_overrides_and_case() -> None:
    mapping = parse_type_map(["Modifier=Other", "GENE = Protein"])
    assert mapping["SpecificDisease"] == "Disease"
    assert mapping["Modifier"] == "Other"
    assert mapping["GENE"] == "Protein"
    assert parse_type_map([]) == DEFAULT_TYPE_MAP
    with pytest.raises(DatasetError, match="CORPUS_TYPE=MODEL_TYPE"):
        parse_type_map(["Disease"])

    documents = read_iob(IOB.splitlines())
    aligned, ignored = align_types(documents, parse_type_map([]), ["Disease", "gene"])
    assert aligned[0].spans == (Span(14, 29, "Disease"),)
    assert aligned[1].spans == (Span(0, 5, "gene"), Span(13, 26, "Disease"))
    assert ignored == {"Chemical": 1}


def test_ncbi_subtypes_all_count_as_disease() -> None:
    documents = read_pubtator(PUBTATOR.splitlines())
    aligned, ignored = align_types(documents, DEFAULT_TYPE_MAP, ["Disease"])
    assert {span.type for span in aligned[0].spans} == {"Disease"}
    assert len(aligned[0].spans) == 3
    assert not ignored


def test_format_from_suffix_or_option(tmp_path: Path) -> None:
    assert detect_format(Path("devel.tsv")) == "iob"
    assert detect_format(Path("devel.PubTator")) == "pubtator"
    assert detect_format(Path("devel.txt"), "pubtator") == "pubtator"
    with pytest.raises(DatasetError, match="--format"):
        detect_format(Path("devel.txt"))
    with pytest.raises(DatasetError, match="unknown format 'xml'"):
        detect_format(Path("devel.tsv"), "xml")
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "missing.tsv")
    (tmp_path / "d.tsv").write_text(IOB, encoding="utf-8")
    assert len(load_dataset(tmp_path / "d.tsv")) == 2


def _random_tags(rng: random.Random, length: int) -> list[str]:
    # every IOB2 pattern seqeval's lenient mode must handle: I after O, type switches inside I
    return [
        rng.choice(["O", "O", "B-Disease", "I-Disease", "B-Chemical", "I-Chemical"])
        for _ in range(length)
    ]


def test_counts_match_seqeval() -> None:
    from seqeval import metrics as seqeval

    rng = random.Random(7)
    gold_tags = [_random_tags(rng, rng.randint(1, 12)) for _ in range(300)]
    # predictions: gold with some tags changed, so there are hits, misses and boundary errors
    pred_tags = [
        [t if rng.random() < 0.8 else rng.choice(["O", "B-Disease", "I-Chemical"]) for t in s]
        for s in gold_tags
    ]

    def documents(tags: list[list[str]]) -> list[GoldDocument]:
        lines = []
        for sentence in tags:
            lines += [f"tok{i}\t{tag}\n" for i, tag in enumerate(sentence)] + ["\n"]
        return read_iob(lines)

    ours = score((d.spans for d in documents(gold_tags)), (d.spans for d in documents(pred_tags)))
    report = seqeval.classification_report(gold_tags, pred_tags, output_dict=True)
    assert ours.micro.precision == pytest.approx(report["micro avg"]["precision"])
    assert ours.micro.recall == pytest.approx(report["micro avg"]["recall"])
    assert ours.micro.f1 == pytest.approx(report["micro avg"]["f1-score"])
    assert ours.micro.gold == report["micro avg"]["support"]
    assert 0 < ours.micro.correct < ours.micro.gold  # not a trivial agreement
    for entity_type, counts in ours.per_type.items():
        assert counts.f1 == pytest.approx(report[entity_type]["f1-score"])
        assert counts.gold == report[entity_type]["support"]


def _iob_document(words: list[str], entities: list[bool]) -> GoldDocument:
    tags = [("B-Disease" if entity else "O") for entity in entities]
    return read_iob([f"{w}\t{t}\n" for w, t in zip(words, tags, strict=True)])[0]


sentences = st.lists(
    st.lists(st.tuples(st.from_regex(r"[A-Za-z]{1,6}", fullmatch=True), st.booleans()), min_size=1),
    max_size=12,
)


@given(sentences, st.integers(1, 5))
def test_grouped_documents_keep_every_gold_mention_on_its_text(
    raw: list[list[tuple[str, bool]]], size: int
) -> None:
    documents = [_iob_document([w for w, _ in words], [e for _, e in words]) for words in raw]
    joined = grouped(documents, size)
    assert len(joined) == -(-len(documents) // size)
    assert [d.text for d in joined] == [
        " ".join(d.text for d in documents[i : i + size]) for i in range(0, len(documents), size)
    ]
    mentions = [d.text[s.start : s.end] for d in documents for s in d.spans]
    assert [d.text[s.start : s.end] for d in joined for s in d.spans] == mentions
    assert grouped(documents, 1) == documents
