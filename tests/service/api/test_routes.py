"""POST /tag?format=...: the same entities as the JSON answer, in PubTator and BioC, over HTTP."""

from __future__ import annotations

import pytest
from bioc import biocjson, biocxml, pubtator

from tests.conftest import RunningServer

pytestmark = pytest.mark.slow

TITLE = "Ménière disease in BRCA1 carriers"
ABSTRACT = (
    "The risk of cystic fibrosis increased among mice.\r\nWe studied Duchenne muscular "
    "dystrophy and breast cancer in children."
)
DOCUMENTS = [
    {"id": "10001", "text": f"{TITLE}\r\n{ABSTRACT}"},
    {"id": "10002", "text": "Treatment of tuberculosis with insulin reduced hepatitis."},
]


def _post(server: RunningServer, output: str | None, documents: list[dict[str, str]]) -> object:
    params = {} if output is None else {"format": output}
    with server.client() as client:
        return client.post("/tag", params=params, json={"documents": documents})


def _json_entities(server: RunningServer) -> dict[str, list[tuple[int, int, str, str]]]:
    response = _post(server, None, DOCUMENTS)
    assert response.status_code == 200
    entities = {
        document["id"]: [(e["start"], e["end"], e["text"], e["type"]) for e in document["entities"]]
        for document in response.json()["documents"]
    }
    assert entities["10001"], "the tiny models find diseases in this text"
    return entities


def test_bioc_xml_and_json_carry_the_json_entities(server: RunningServer) -> None:
    expected = _json_entities(server)
    for output, media_type, parse in (
        ("biocxml", "application/xml", biocxml.loads),
        ("biocjson", "application/json", biocjson.loads),
    ):
        response = _post(server, output, DOCUMENTS)
        assert response.status_code == 200
        assert response.headers["content-type"] == media_type
        collection = parse(response.text)
        assert collection.source == "biotag"
        for document, sent in zip(collection.documents, DOCUMENTS, strict=True):
            (passage,) = document.passages
            assert (document.id, passage.text) == (sent["id"], sent["text"])
            found = [
                (a.total_span.offset, a.total_span.end, a.text, a.infons["type"])
                for a in passage.annotations
            ]
            assert found == expected[document.id]


def test_pubtator_has_title_abstract_and_offsets_into_them(server: RunningServer) -> None:
    expected = _json_entities(server)
    response = _post(server, "pubtator", DOCUMENTS)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    first, second = pubtator.loads(response.text)
    assert (first.pmid, first.title, first.abstract) == (
        "10001",
        TITLE,
        ABSTRACT.replace("\r\n", "  "),
    )
    assert (second.title, second.abstract) == (DOCUMENTS[1]["text"], None)
    for document in (first, second):
        joined = document.title + (f" {document.abstract}" if document.abstract else "")
        # the CRLF after the title is one space in PubTator: abstract offsets move down by one
        title_end = len(document.title)
        shifted = [
            (start - (start > title_end), end - (start > title_end), text, kind)
            for start, end, text, kind in expected[document.pmid]
        ]
        found = [(a.start, a.end, a.text, a.type) for a in document.annotations]
        assert found == shifted
        assert all(joined[a.start : a.end] == a.text for a in document.annotations)


def test_unknown_format_and_ids_pubtator_cannot_carry_are_422(server: RunningServer) -> None:
    unknown = _post(server, "brat", DOCUMENTS)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "validation_error"
    bad_ids = [{"id": "a|b", "text": "x"}, {"id": "ok", "text": "y"}, {"id": "c\td", "text": "z"}]
    refused = _post(server, "pubtator", bad_ids)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "validation_error"
    assert [d["loc"] for d in error["details"]] == [
        ["body", "documents", "0", "id"],
        ["body", "documents", "2", "id"],
    ]
    # default ids are positions, which PubTator takes
    (only,) = pubtator.loads(_post(server, "pubtator", [{"text": "leukemia"}]).text)
    assert only.pmid == "0"
