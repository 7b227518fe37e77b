"""Hostile JSON, in process on the committed default bundle: each gets its documented answer,
never a 500, and text the service accepts keeps exact offsets whatever characters it holds."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from biotag.service.api.app import create_app
from biotag.service.config import REPO_MODELS_DIR, Settings


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = Settings(models_dir=REPO_MODELS_DIR, intra_op_threads=1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as running:
        yield running


def post_raw(client: TestClient, body: bytes) -> tuple[int, dict[str, object]]:
    answer = client.post("/tag", content=body, headers={"Content-Type": "application/json"})
    payload: dict[str, object] = answer.json()
    return answer.status_code, payload


def error_code(payload: dict[str, object]) -> object:
    error = payload["error"]
    assert isinstance(error, dict)
    return error["code"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"text": "cancer \\ud800 here"}', 422, "validation_error"),
        (b'{"documents": [{"id": "\\udfff", "text": "cancer"}]}', 422, "validation_error"),
        (b'{"text": "invalid \xff\xfe utf-8"}', 422, "malformed_json"),
        (b"\xef\xbb\xbf\xff", 422, "malformed_json"),
        (b"[" * 100_000 + b"]" * 100_000, 422, "malformed_json"),
        (b'{"text": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001, 422, "malformed_json"),
        (b'{"text": "raw \x00 nul"}', 422, "malformed_json"),
        (
            b'{"documents": [' + b'{"text": "x"},' * 10_000 + b'{"text": "x"}]}',
            413,
            "too_many_documents",
        ),
        (b"", 422, "validation_error"),
        (b"null", 422, "validation_error"),
    ],
    ids=[
        "lone-high-surrogate",
        "lone-low-surrogate-id",
        "invalid-utf8",
        "bom-then-garbage",
        "nested-arrays",
        "nested-objects",
        "raw-nul",
        "many-empty-documents",
        "empty",
        "null",
    ],
)
def test_hostile_bodies_get_their_documented_answer(
    client: TestClient, body: bytes, status: int, code: str
) -> None:
    answer_status, payload = post_raw(client, body)
    assert (answer_status, error_code(payload)) == (status, code)


def test_duplicate_keys_take_the_last_value(client: TestClient) -> None:
    status, payload = post_raw(
        client, b'{"text": "nothing here", "text": "Patients with cystic fibrosis."}'
    )
    assert status == 200
    documents = payload["documents"]
    assert isinstance(documents, list)
    assert "cystic fibrosis" in [e["text"] for e in documents[0]["entities"]]


def test_control_characters_are_text_with_exact_offsets(client: TestClient) -> None:
    controls = "".join(chr(c) for c in [*range(32), *range(0x7F, 0xA0)])
    text = f"{controls}Patients with cystic fibrosis.{controls}"
    answer = client.post("/tag", json={"text": text})
    assert answer.status_code == 200
    entities = answer.json()["documents"][0]["entities"]
    assert entities
    for entity in entities:
        assert text[entity["start"] : entity["end"]] == entity["text"]
    assert "cystic fibrosis" in [e["text"] for e in entities]


def test_a_longest_document_without_spaces_is_tagged_and_one_more_character_refused(
    client: TestClient,
) -> None:
    longest = Settings().max_document_chars
    word = "a" * longest
    tagged = client.post("/tag", json={"text": word})
    assert tagged.status_code == 200
    assert tagged.json()["documents"][0]["entities"] == []
    refused = client.post("/tag", json={"text": word + "a"})
    assert (refused.status_code, refused.json()["error"]["code"]) == (413, "document_too_large")


def test_a_body_without_a_content_type_is_refused_415(client: TestClient) -> None:
    answer = client.post("/tag", content=b'{"text": "cancer"}')
    assert (answer.status_code, answer.json()["error"]["code"]) == (415, "unsupported_media_type")
