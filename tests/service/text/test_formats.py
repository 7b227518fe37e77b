"""Output formats: what PubTator and BioC readers (ours and the `bioc` library) get back."""

from __future__ import annotations

from datetime import date

import orjson
from bioc import biocjson, biocxml, pubtator
from hypothesis import given, settings
from hypothesis import strategies as st

from biotag.evaluation.datasets import read_pubtator
from biotag.service.text.entities import Entity
from biotag.service.text.formats import (
    OutputFormat,
    TaggedDocument,
    pubtator_id_problem,
    pubtator_text,
    render,
    to_bioc_json,
    to_bioc_xml,
    to_json,
    to_pubtator,
)

DAY = date(2026, 11, 26)
TITLE = "BRCA1 and breast cancer"
ABSTRACT = "Germline BRCA1 mutations cause hereditary breast cancer\tand ovarian cancer."


def _entity(text: str, start: int, end: int, entity_type: str = "Disease") -> Entity:
    return Entity(start, end, text[start:end], entity_type, 0.875, entity_type.lower())


def _found(text: str, mention: str, entity_type: str = "Disease", after: int = 0) -> Entity:
    start = text.index(mention, after)
    return _entity(text, start, start + len(mention), entity_type)


def _document(text: str) -> TaggedDocument:
    entities = [_found(text, "BRCA1", "Gene"), _found(text, "breast cancer")]
    entities.append(_found(text, "ovarian cancer"))
    return TaggedDocument("pmid-1", text, sorted(entities, key=lambda e: e.start))


def test_pubtator_reads_back_with_title_abstract_and_offsets_of_the_text() -> None:
    text = f"{TITLE}\n{ABSTRACT}"
    document = _document(text)
    output = to_pubtator([document]).decode()
    (parsed,) = pubtator.loads(output)
    assert (parsed.pmid, parsed.title) == ("pmid-1", TITLE)
    assert parsed.abstract == ABSTRACT.replace("\t", " ")  # tabs separate PubTator's columns
    assert [(a.start, a.end, a.text, a.type) for a in parsed.annotations] == [
        (e.start, e.end, e.text, e.type) for e in document.entities
    ]
    (gold,) = read_pubtator(output.splitlines())
    assert [(s.start, s.end, s.type) for s in gold.spans] == [
        (e.start, e.end, e.type) for e in document.entities
    ]


def test_pubtator_crlf_break_moves_abstract_offsets_down_by_one() -> None:
    text = f"{TITLE}\r\n{ABSTRACT}"
    document = _document(text)
    (parsed,) = pubtator.loads(to_pubtator([document]).decode())
    joined = f"{parsed.title} {parsed.abstract}"
    shifts = [
        (annotation.start - entity.start, annotation.end - entity.end)
        for annotation, entity in zip(parsed.annotations, document.entities, strict=True)
    ]
    assert shifts == [(0, 0), (0, 0), (-1, -1)]  # BRCA1, breast cancer | ovarian cancer
    for annotation in parsed.annotations:
        assert joined[annotation.start : annotation.end] == annotation.text


def test_text_without_line_break_is_all_title() -> None:
    assert pubtator_text("one line\tonly") == ("one line only", None, 13, 0)
    output = to_pubtator([_document(ABSTRACT)]).decode()
    assert output.splitlines()[:2] == [
        f"pmid-1|t|{ABSTRACT.replace(chr(9), ' ')}",
        "pmid-1\t9\t14\tBRCA1\tGene\t-",
    ]
    assert output.endswith("\n\n")  # a blank line closes each document


def test_pubtator_ids_that_would_break_its_lines_are_named() -> None:
    assert pubtator_id_problem("12345") is None
    for bad in ("", "a|b", "a\tb", "a\nb", "a\u2028b"):
        assert pubtator_id_problem(bad) is not None


# "\r" and "\n" side by side make CRLF breaks too
LINE_TEXT = st.text(alphabet="ab é\tΔ-.\n\r\u2028\x85\x0c", max_size=40)
BREAKS_AND_TABS = "\n\r\u2028\x85\x0c\t"


def _one_line(text: str) -> str:
    return "".join(" " if c in BREAKS_AND_TABS else c for c in text)


@st.composite
def tagged_texts(draw: st.DrawFn) -> TaggedDocument:
    text = draw(LINE_TEXT)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=6, unique=True)))
    entities = [
        _entity(text, start, end) for start, end in zip(cuts[::2], cuts[1::2], strict=False)
    ]
    return TaggedDocument("7", text, entities)


@settings(max_examples=300, deadline=None)
@given(tagged_texts())
def test_pubtator_offsets_index_title_space_abstract(document: TaggedDocument) -> None:
    output = to_pubtator([document]).decode()
    lines = output.split("\n")
    assert lines[-2:] == ["", ""]  # nothing in the text made a line of its own
    title, abstract, _, lost = pubtator_text(document.text)
    joined = title if abstract is None else f"{title} {abstract}"
    assert len(joined) == len(document.text) - lost
    mention_lines = [line.split("\t") for line in lines if "\t" in line]
    assert len(mention_lines) == len(document.entities)
    for (doc_id, start, end, mention, entity_type, concept), entity in zip(
        mention_lines, document.entities, strict=True
    ):
        assert (doc_id, entity_type, concept) == ("7", "Disease", "-")
        assert joined[int(start) : int(end)] == mention
        spans_the_break = entity.start <= len(title) < entity.end
        if not spans_the_break:
            assert mention == _one_line(entity.text)


@settings(max_examples=200, deadline=None)
@given(tagged_texts())
def test_bioc_xml_and_json_keep_the_text_and_its_offsets(document: TaggedDocument) -> None:
    from_xml = biocxml.loads(to_bioc_xml([document], ["disease"], DAY).decode())
    from_json = biocjson.loads(to_bioc_json([document], ["disease"], DAY).decode())
    # XML 1.0 cannot carry a form feed: one replacement character each, offsets unmoved
    assert from_xml.documents[0].passages[0].text == document.text.replace("\x0c", "\ufffd")
    assert from_json.documents[0].passages[0].text == document.text
    for collection in (from_xml, from_json):
        (parsed,) = collection.documents
        (passage,) = parsed.passages
        assert passage.text in (document.text, document.text.replace("\x0c", "\ufffd"))
        assert passage.offset == 0
        assert len(passage.annotations) == len(document.entities)
        for annotation, entity in zip(passage.annotations, document.entities, strict=True):
            (location,) = annotation.locations
            assert (location.offset, location.end) == (entity.start, entity.end)
            assert annotation.infons == {"type": "Disease", "score": "0.8750", "model": "disease"}


def test_bioc_xml_keeps_carriage_returns_and_replaces_what_xml_cannot_carry() -> None:
    text = "Fever\r\nand \x01rash\x0c."
    document = TaggedDocument("d", text, [_found(text, "rash")])
    collection = biocxml.loads(to_bioc_xml([document], ["disease", "gene"], DAY).decode())
    assert (collection.source, collection.date) == ("biotag", "20261126")
    assert collection.infons == {"models": "disease,gene"}
    (passage,) = collection.documents[0].passages
    assert passage.text == "Fever\r\nand \ufffdrash\ufffd."
    (annotation,) = passage.annotations
    assert passage.text[annotation.total_span.offset : annotation.total_span.end] == "rash"


def test_bioc_json_is_the_bioc_library_layout() -> None:
    document = _document(f"{TITLE}\n{ABSTRACT}")
    raw = orjson.loads(to_bioc_json([document], ["disease", "gene"], DAY))
    assert set(raw) == {"source", "date", "key", "infons", "documents"}
    collection = biocjson.loads(to_bioc_json([document], ["disease", "gene"], DAY).decode())
    (passage,) = collection.documents[0].passages
    assert passage.text == document.text
    assert [a.text for a in passage.annotations] == [e.text for e in document.entities]


def test_render_picks_the_format_and_json_is_the_default_schema() -> None:
    document = _document(ABSTRACT)
    assert render(OutputFormat.JSON, [document], ["disease"], DAY) == to_json(
        [document], ["disease"]
    )
    answer = orjson.loads(to_json([document], ["disease"]))
    assert answer["models"] == ["disease"]
    (entity, *_) = answer["documents"][0]["entities"]
    assert entity == {
        "start": 9,
        "end": 14,
        "text": "BRCA1",
        "type": "Gene",
        "score": 0.875,
        "model": "gene",
    }
    assert render(OutputFormat.PUBTATOR, [document], ["d"], DAY) == to_pubtator([document])
