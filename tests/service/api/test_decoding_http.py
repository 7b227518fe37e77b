"""Viterbi vs argmax decoding through POST /tag, in process on the committed default bundle
(real ONNX Runtime session, real tokenizer): the served default tags known disease sentences it
never trained on as well as or better than argmax."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from biotag.service.api.app import create_app
from biotag.service.config import REPO_MODELS_DIR, Settings

# Sentences of the disease guard file (NCBI-disease and BC5CDR devel tails, which the committed
# final run never trained on), as `biotag eval` joins their tokens, and their gold diseases,
# chosen where the committed bundle's argmax breaks BIO (an I- after an O) and Viterbi does not:
# argmax cuts "classical and Duarte galactosemia" to "and Duarte galactosemia", "acute radiation
# toxicity" to "radiation toxicity", or keeps a stray "of". On the whole guard file Viterbi gets
# 412 sentences exactly right and argmax 406; the devel sets measure the balance (README).
GOLD = {
    "To study the molecular genetics of classical and Duarte galactosemia , we analyzed the GALT "
    "mutations in 30 families with classical galactosemia , in 10 families with the D - 2 "
    "variant and in 3 individuals carrying the D - 1 allele by denaturing gradient gel "
    "electrophoresis ( DGGE ) .": ["classical and Duarte galactosemia", "classical galactosemia"],
    "atm and p53 cooperate in apoptosis and suppression of tumorigenesis , but not in resistance "
    "to acute radiation toxicity .": ["acute radiation toxicity"],
    "Autosomal dominant myotonia congenita is an inherited disorder of skeletal muscle caused by "
    "mutations in a voltage - gated Cl - channel gene ( CLCN1 , 7q35 ) .": [
        "Autosomal dominant myotonia congenita",
        "inherited disorder of skeletal muscle",
    ],
    "Therefore , these mutations are sufficient to explain the complete deficiency of both the "
    "probands studied .": [],
    "Nevertheless , compensatory mechanisms prevent a deterioration of resting myocardial "
    "metabolism .": [],
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
    galactosemia = sorted(entity["text"] for entity in tagged["viterbi"][0])
    assert galactosemia == ["classical and Duarte galactosemia", "classical galactosemia"]


@pytest.mark.parametrize("decoding", ["viterbi", "argmax"])
def test_spans_are_exact_under_both_decodings(
    tagged: dict[str, list[list[dict[str, Any]]]], decoding: str
) -> None:
    for text, entities in zip(GOLD, tagged[decoding], strict=True):
        for entity in entities:
            assert text[entity["start"] : entity["end"]] == entity["text"]
            assert entity["type"] == "Disease"
            assert 0.0 <= entity["score"] <= 1.0
