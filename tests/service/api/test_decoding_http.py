"""Viterbi vs argmax decoding through POST /tag, in process on the committed default bundle
(real ONNX Runtime session, real tokenizer): the served default tags known NCBI-disease devel
sentences as well as or better than argmax."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from biotag.service.api.app import create_app
from biotag.service.config import REPO_MODELS_DIR, Settings

# NCBI-disease devel sentences (as `biotag eval` joins their tokens) and their gold diseases,
# chosen where argmax put an I- after an O with an earlier bundle (entities cut short, or split
# in two). With the committed bundle argmax still cuts "insulin - dependent diabetes mellitus"
# to "- dependent diabetes mellitus", which Viterbi opens where the probabilities say; the other
# misses are the model's under both decodings. The devel sets measure the balance (README).
GOLD = {
    "Molecular basis for Duarte and Los Angeles variant galactosemia .": [
        "Duarte and Los Angeles variant galactosemia"
    ],
    "In the Caucasian population , it has been demonstrated that the insulin gene ( INS ) "
    "region contains the insulin - dependent diabetes mellitus locus ( IDDM2 ) .": [
        "insulin - dependent diabetes mellitus"
    ],
    "Absence of disease phenotype and intergenerational stability of the CAG repeat in "
    "transgenic mice expressing the human Huntington disease transcript .": ["Huntington disease"],
    "Thus , WASP provides a novel link between CDC42Hs and the actin cytoskeleton , which "
    "suggests a molecular mechanism for many of the cellular abnormalities in WAS .": ["WAS"],
    "UKCCCR Familial Ovarian Cancer Study Group .": ["Ovarian Cancer"],
}


def _tag(**settings: Any) -> list[list[dict[str, Any]]]:
    options = {"models_dir": REPO_MODELS_DIR, "intra_op_threads": 1, **settings}
    with TestClient(create_app(Settings(**options))) as client:
        body = {"documents": [{"text": text} for text in GOLD], "models": ["disease"]}
        response = client.post("/tag", json=body)
    assert response.status_code == 200, response.text
    return [document["entities"] for document in response.json()["documents"]]


@pytest.fixture(scope="module")
def tagged() -> dict[str, list[list[dict[str, Any]]]]:
    return {
        "default": _tag(),
        "viterbi": _tag(decoding="viterbi"),
        "argmax": _tag(decoding="argmax"),
    }


def _exact_documents(documents: list[list[dict[str, Any]]]) -> int:
    return sum(
        sorted(entity["text"] for entity in entities) == sorted(gold)
        for entities, gold in zip(documents, GOLD.values(), strict=True)
    )


def test_viterbi_is_the_default(tagged: dict[str, list[list[dict[str, Any]]]]) -> None:
    assert tagged["default"] == tagged["viterbi"]


def test_viterbi_tags_known_sentences_as_well_or_better(
    tagged: dict[str, list[list[dict[str, Any]]]],
) -> None:
    assert _exact_documents(tagged["viterbi"]) > _exact_documents(tagged["argmax"])
    insulin = [entity["text"] for entity in tagged["viterbi"][1]]
    assert insulin == ["insulin - dependent diabetes mellitus"]


@pytest.mark.parametrize("decoding", ["viterbi", "argmax"])
def test_spans_are_exact_under_both_decodings(
    tagged: dict[str, list[list[dict[str, Any]]]], decoding: str
) -> None:
    for text, entities in zip(GOLD, tagged[decoding], strict=True):
        for entity in entities:
            assert text[entity["start"] : entity["end"]] == entity["text"]
            assert entity["type"] == "Disease"
            assert 0.0 <= entity["score"] <= 1.0
