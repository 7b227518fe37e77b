"""Request ids and the request log: in process on the committed default bundle (real ONNX
Runtime session, real tokenizer) through Starlette's TestClient, and once against a real
`biotag serve` (with an API key, as a deployment that logs to a file would run it)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from biotag.service.api.app import create_app
from biotag.service.config import REPO_MODELS_DIR, Settings
from biotag.service.inference.session import OnnxSession
from tests.conftest import ready_server

# a text no log line may hold; its entities are real (Cisplatin, nephrotoxicity)
SECRET = "Zorbulax"
TEXT = f"Cisplatin-induced nephrotoxicity in {SECRET} patients lacking the p53 gene."
FRESH_ID = re.compile(r"[0-9a-f]{32}")
REQUEST_LOG = "biotag.service.api.request_id"


def _client(**settings: Any) -> TestClient:
    options = {
        "models_dir": REPO_MODELS_DIR,
        "intra_op_threads": 1,
        "max_request_bytes": 4096,
        **settings,
    }
    return TestClient(create_app(Settings(**options)), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with _client() as running:
        yield running


def _request_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == REQUEST_LOG]


def test_every_answer_carries_a_fresh_id(client: TestClient) -> None:
    answers = [
        client.post("/tag", json={"text": TEXT}),  # 200
        client.post("/tag", json={"documents": [{"txt": "x"}]}),  # 422
        client.post("/tag", content=b'{"text": "' + b"a" * 5000 + b'"}'),  # 413
        client.post("/tag", json={"text": TEXT, "models": ["nope"]}),  # 404
        client.get("/tag"),  # 405
        client.get("/no-such-route"),  # 404
        client.get("/healthz"),
        client.get("/static/page.js"),
    ]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert all(FRESH_ID.fullmatch(request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("sent", ["trace-1.A_b", "x" * 128, uuid.uuid4().hex])
def test_a_sane_client_id_is_kept(client: TestClient, sent: str) -> None:
    for answer in (
        client.post("/tag", json={"text": TEXT}, headers={"X-Request-ID": sent}),
        client.post("/tag", json={"nope": 1}, headers={"X-Request-ID": sent}),
    ):
        assert answer.headers["x-request-id"] == sent
        assert answer.headers.get_list("x-request-id") == [sent]  # replaced, never doubled


@pytest.mark.parametrize(
    "sent", ["x" * 129, "has space", "../etc", "a\tb", b"\xc3\xbcml\xc3\xa4ut", "<script>", ""]
)
def test_an_odd_client_id_is_replaced(client: TestClient, sent: str | bytes) -> None:
    answer = client.get("/healthz", headers={"X-Request-ID": sent})
    assert FRESH_ID.fullmatch(answer.headers["x-request-id"])


def test_a_failed_request_leaves_one_line_with_id_route_status_and_duration(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="biotag")
    assert client.post("/tag", json={"text": TEXT}).status_code == 200
    assert _request_lines(caplog) == []  # a success is counted in the metrics, not logged
    client.post("/tag", json={"documents": [{"txt": TEXT}]}, headers={"X-Request-ID": "f-1"})
    client.get("/no/such/route", headers={"X-Request-ID": "f-2"})
    first, second = _request_lines(caplog)
    assert first.request_id == "f-1"  # type: ignore[attr-defined]
    assert re.fullmatch(r"POST /tag answered 422 in \d+\.\d ms", first.getMessage())
    assert second.request_id == "f-2"  # type: ignore[attr-defined]
    assert second.getMessage().startswith("GET '/no/such/route' answered 404")


def test_records_of_a_failure_inside_the_request_carry_its_id(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_run = OnnxSession.run
    broken = False

    def failing_run(session: OnnxSession, sequences: list[np.ndarray]) -> list[np.ndarray]:
        if broken:
            raise RuntimeError("the device fell over")
        return real_run(session, sequences)

    monkeypatch.setattr(OnnxSession, "run", failing_run)
    caplog.set_level(logging.INFO, logger="biotag")
    with _client() as failing:
        broken = True  # once warmed up
        answer = failing.post("/tag", json={"text": TEXT}, headers={"X-Request-ID": "boom-1"})
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert answer.headers["x-request-id"] == "boom-1"
    during = [r for r in caplog.records if getattr(r, "request_id", "-") == "boom-1"]
    assert {r.name for r in during} >= {"biotag.service.api.errors", REQUEST_LOG}
    # the traceback (where, not the message), under the request's id
    assert any("unhandled RuntimeError" in r.getMessage() for r in during)
    assert SECRET not in caplog.text


def test_document_texts_are_never_logged_by_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="biotag")
    with _client(log_level="debug") as debug:
        for body in (
            {"text": TEXT},
            {"text": TEXT, "models": ["nope"]},  # 404
            {"documents": [{"text": TEXT, "id": 5.5}]},  # 422
            {"documents": [{"text": TEXT}] * 100},  # 413
        ):
            debug.post("/tag", json=body, headers={"X-Request-ID": "quiet-1"})
    assert any(getattr(r, "request_id", None) == "quiet-1" for r in caplog.records)
    assert SECRET not in caplog.text


def test_log_documents_logs_texts_only_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="biotag")
    with _client(log_documents=True) as info:
        assert info.post("/tag", json={"text": TEXT}).status_code == 200
    assert SECRET not in caplog.text  # the setting alone does not do it
    caplog.set_level(logging.DEBUG, logger="biotag")
    with _client(log_documents=True, log_level="debug") as debug:
        sent = {"documents": [{"id": "doc-a", "text": TEXT}]}
        assert debug.post("/tag", json=sent, headers={"X-Request-ID": "loud-1"}).status_code == 200
    logged = [r for r in caplog.records if SECRET in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].request_id == "loud-1"  # type: ignore[attr-defined]
    assert "doc-a" in logged[0].getMessage()


@pytest.mark.slow
def test_a_real_server_logs_ids_and_never_texts(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    key = "request-id-test-key"
    with (
        ready_server(REPO_MODELS_DIR, log, BIOTAG_API_KEY=key) as server,
        server.client() as http,
    ):
        auth = {"Authorization": f"Bearer {key}"}
        ok = http.post("/tag", json={"text": TEXT}, headers={**auth, "X-Request-ID": "ok-7"})
        assert ok.status_code == 200
        assert ok.headers["x-request-id"] == "ok-7"
        refused = http.post("/tag", json={"text": TEXT}, headers={"X-Request-ID": "no-key-7"})
        assert refused.status_code == 401
        assert refused.headers["x-request-id"] == "no-key-7"
        bad = {"documents": [{"text": TEXT, "id": 5.5}]}
        invalid = http.post("/tag", json=bad, headers={**auth, "X-Request-ID": "bad-7"})
        assert invalid.status_code == 422
    logged = log.read_text(encoding="utf-8")
    assert re.search(r"\[no-key-7\] .*POST .* answered 401 in \d", logged), logged
    assert re.search(r"\[bad-7\] .*POST /tag answered 422 in \d", logged), logged
    assert "ok-7" not in logged  # successes are not logged one by one
    assert SECRET not in logged
    assert key not in logged
