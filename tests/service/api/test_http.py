"""The request path in process: the real app on the committed default bundle (real ONNX Runtime
session, real tokenizer), driven through Starlette's TestClient and raw ASGI calls. Every error
code and status, the body limit on both branches, client disconnects, the detail truncation."""

from __future__ import annotations

import concurrent.futures
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import numpy as np
import pytest
from starlette.testclient import TestClient

from biotag.service.api.app import create_app
from biotag.service.api.errors import MAX_DETAILS
from biotag.service.config import REPO_MODELS_DIR, Settings
from biotag.service.inference.session import OnnxSession

TEXT = "Cisplatin-induced nephrotoxicity was reduced in mice lacking the p53 gene."
LIMITS = {"max_documents": 4, "max_document_chars": 500, "max_request_bytes": 4096}


class Gate:
    """Holds every ONNX Runtime run until opened, and counts the sequences that ran: the real
    session still computes every result."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()
        self.sequences = 0
        self.failure: Exception | None = None


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Gate:
    gate = Gate()
    real_run = OnnxSession.run

    def gated_run(session: OnnxSession, sequences: list[np.ndarray]) -> list[np.ndarray]:
        gate.entered.set()
        assert gate.open.wait(60)
        gate.sequences += len(sequences)
        if gate.failure is not None:
            raise gate.failure
        return real_run(session, sequences)

    monkeypatch.setattr(OnnxSession, "run", gated_run)
    return gate


def _client(**settings: Any) -> TestClient:
    options = {"models_dir": REPO_MODELS_DIR, "intra_op_threads": 1, **LIMITS, **settings}
    return TestClient(create_app(Settings(**options)), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with _client() as running:
        yield running


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def _rejections(client: TestClient, code: str) -> float:
    exposition = client.get("/metrics").text
    found = re.search(rf'biotag_rejections_total{{reason="{code}"}} (\S+)', exposition)
    return float(found.group(1)) if found else 0.0


def _queue_depth(client: TestClient) -> float:
    found = re.search(r'biotag_queue_depth{bundle="default"} (\S+)', client.get("/metrics").text)
    return float(found.group(1)) if found else 0.0


def test_tags_real_entities(client: TestClient) -> None:
    response = client.post("/tag", json={"text": TEXT})
    assert response.status_code == 200
    entities = response.json()["documents"][0]["entities"]
    assert {(e["text"], e["type"]) for e in entities} >= {("Cisplatin", "Chemical")}
    assert all(TEXT[e["start"] : e["end"]] == e["text"] for e in entities)


def test_validation_errors_are_422_with_located_details(client: TestClient) -> None:
    before = _rejections(client, "validation_error")
    error = _error(client.post("/tag", json={"documents": [{"txt": "x"}]}), 422, "validation_error")
    assert any(detail["loc"][-1] == "txt" for detail in error["details"])
    assert _rejections(client, "validation_error") == before + 1
    malformed = client.post(
        "/tag", content=b'{"text": ', headers={"content-type": "application/json"}
    )
    _error(malformed, 422, "malformed_json")


def test_details_stop_at_twenty_and_say_how_many_more(client: TestClient) -> None:
    documents = [{"text": index} for index in range(MAX_DETAILS + 5)]
    error = _error(client.post("/tag", json={"documents": documents}), 422, "validation_error")
    assert len(error["details"]) == MAX_DETAILS + 1
    assert error["details"][-1]["msg"] == "and 5 more problems"
    assert all("input" not in detail for detail in error["details"])  # never echo the input


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"documents": [{"text": "a"}] * 5}, "too_many_documents"),
        ({"text": "a" * 501}, "document_too_large"),
    ],
)
def test_limits_are_413(client: TestClient, body: dict[str, Any], code: str) -> None:
    _error(client.post("/tag", json=body), 413, code)


def test_a_body_over_the_limit_is_413_by_length_and_while_streaming(client: TestClient) -> None:
    oversized = b'{"text": "' + b"a" * 5000 + b'"}'
    json_type = {"content-type": "application/json"}
    _error(client.post("/tag", content=oversized, headers=json_type), 413, "request_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as it arrives
        yield b'{"text": "'
        for _ in range(10):
            yield b"a" * 1000
        yield b'"}'

    before = _rejections(client, "request_too_large")
    streamed = client.post("/tag", content=chunks(), headers=json_type)
    error = _error(streamed, 413, "request_too_large")
    assert "4096 bytes" in error["message"]
    assert _rejections(client, "request_too_large") == before + 1


def test_unknown_model_route_and_method(client: TestClient) -> None:
    error = _error(
        client.post("/tag", json={"text": TEXT, "models": ["nope"]}), 404, "unknown_model"
    )
    assert "nope" in error["message"]
    assert "disease" in error["message"]  # what is served instead
    _error(client.get("/no-such-route"), 404, "not_found")
    _error(client.get("/tag"), 405, "method_not_allowed")


def test_not_ready_is_503_with_retry_after_and_a_reason(tmp_path: Path) -> None:
    with _client(models_dir=tmp_path, retry_after_s=7) as empty:
        refused = empty.post("/tag", json={"text": TEXT})
        _error(refused, 503, "not_ready")
        assert refused.headers["retry-after"] == "7"
        probe = empty.get("/readyz")
        details = _error(probe, 503, "not_ready")["details"]
        assert details == [
            {"where": str(tmp_path), "why": "no bundle folders (with a bundle.json) found"}
        ]
        assert _rejections(empty, "not_ready") == 1  # the refused request; probes are not refusals


def test_an_unexpected_failure_is_500_in_the_envelope(
    gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    with _client() as failing:
        gate.failure = RuntimeError(f"the device fell over on {TEXT!r}")
        error = _error(failing.post("/tag", json={"text": TEXT}), 500, "internal_error")
        assert error["message"] == "internal error"  # nothing internal leaks
        assert "unhandled RuntimeError" in caplog.text
        assert TEXT not in caplog.text  # an exception's message may quote the document
        gate.failure = None
        assert failing.post("/tag", json={"text": TEXT}).status_code == 200  # still serving


def test_a_request_no_queue_can_ever_hold_is_413() -> None:
    with _client(max_queue_windows=2) as small:
        error = _error(
            small.post("/tag", json={"documents": [{"text": TEXT}] * 3}), 413, "request_too_large"
        )
        assert "(2)" in error["message"]


def test_a_full_queue_is_503_with_retry_after(gate: Gate) -> None:
    with (
        _client(max_queue_windows=4, retry_after_s=3) as small,
        concurrent.futures.ThreadPoolExecutor(2) as pool,
    ):
        gate.open.clear()
        gate.entered.clear()
        running = pool.submit(small.post, "/tag", json={"text": TEXT})
        assert gate.entered.wait(30)  # its window is in the session, the queue is empty
        waiting = pool.submit(small.post, "/tag", json={"documents": [{"text": TEXT}] * 4})
        deadline = time.monotonic() + 30
        while _queue_depth(small) < 4:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        full = small.post("/tag", json={"text": TEXT})
        _error(full, 503, "queue_full")
        assert full.headers["retry-after"] == "3"
        gate.open.set()
        assert running.result(60).status_code == 200
        assert waiting.result(60).status_code == 200


def test_a_client_that_leaves_has_its_windows_withdrawn(gate: Gate) -> None:
    with _client() as app_client, concurrent.futures.ThreadPoolExecutor(1) as pool:
        gate.sequences = 0  # the warm-up ran one
        gate.open.clear()
        gate.entered.clear()
        first = pool.submit(app_client.post, "/tag", json={"text": TEXT})
        assert gate.entered.wait(30)
        left = anyio.Event()
        sent: list[dict[str, Any]] = []
        body = b'{"documents": [{"text": "%s"}, {"text": "%s"}, {"text": "%s"}]}' % (
            (TEXT.encode(),) * 3
        )
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await left.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/tag",
            "raw_path": b"/tag",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-type", b"application/json"), (b"host", b"testserver")],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
            "state": {},
        }
        leaving = app_client.portal.start_task_soon(app_client.app, scope, receive, send)
        deadline = time.monotonic() + 30
        while _queue_depth(app_client) < 3:  # its three windows wait behind the first request
            assert time.monotonic() < deadline
            time.sleep(0.05)
        app_client.portal.call(left.set)
        leaving.result(30)
        assert sent[0]["status"] == 499
        gate.open.set()
        assert first.result(60).status_code == 200
        deadline = time.monotonic() + 30
        while _queue_depth(app_client) > 0:  # withdrawn windows leave the queue and its gauge
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert gate.sequences == 1  # only the first request's window ever ran


def test_cpu_batches_stay_short_so_other_requests_interleave() -> None:
    with _client(max_documents=16, max_request_bytes=100_000, max_wait_ms=50) as roomy:
        documents = [{"text": TEXT}] * 16  # a window each, queued at once
        assert roomy.post("/tag", json={"documents": documents}).status_code == 200
        exposition = roomy.get("/metrics").text
    count = re.search(r'biotag_batch_size_count{bundle="default"} (\S+)', exposition)
    within_four = re.search(
        r'biotag_batch_size_bucket{bundle="default",le="4.0"} (\S+)', exposition
    )
    assert count is not None
    assert within_four is not None
    assert float(count.group(1)) >= 4  # 16 windows, at most 4 a batch
    assert within_four.group(1) == count.group(1)
