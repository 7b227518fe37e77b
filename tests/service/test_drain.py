"""SIGTERM on a real `biotag serve` (one process, the committed default bundle): requests in
flight are answered, the process exits 0, and a request the drain cannot wait for is answered
503 in the envelope instead of being cut off."""

from __future__ import annotations

import concurrent.futures
import signal
import time
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from biotag.service.api.app import create_app
from biotag.service.config import REPO_MODELS_DIR, Settings
from tests.conftest import RunningServer, ready_server

ABSTRACT = "BRCA1 mutations cause hereditary breast cancer."


def tag(server: RunningServer) -> httpx.Response:
    with server.client() as client:
        return client.post("/tag", json={"text": ABSTRACT})


@pytest.mark.slow
def test_sigterm_answers_requests_in_flight_and_exits_0(tmp_path: Path) -> None:
    # the batcher waits 1.5 s for company: the request is in flight when the signal arrives
    with ready_server(REPO_MODELS_DIR, tmp_path / "server.log", BIOTAG_MAX_WAIT_MS="1500") as up:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            answer = pool.submit(tag, up)
            time.sleep(0.5)
            up.process.send_signal(signal.SIGTERM)
            response = answer.result(timeout=30)
        assert response.status_code == 200
        assert response.json()["documents"][0]["entities"]
        assert up.process.wait(timeout=30) == 0
        with pytest.raises(httpx.ConnectError):
            tag(up)


@pytest.mark.slow
def test_a_request_the_drain_cannot_wait_for_gets_503_in_the_envelope(tmp_path: Path) -> None:
    with ready_server(
        REPO_MODELS_DIR,
        tmp_path / "server.log",
        BIOTAG_MAX_WAIT_MS="5000",
        BIOTAG_SHUTDOWN_TIMEOUT_S="1",
    ) as up:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            answer = pool.submit(tag, up)
            time.sleep(0.5)
            up.process.send_signal(signal.SIGTERM)
            response = answer.result(timeout=30)
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        error = response.json()["error"]
        assert error["code"] == "not_ready"
        assert "BIOTAG_SHUTDOWN_TIMEOUT_S=1" in error["message"]
        assert up.process.wait(timeout=30) == 0


def test_a_draining_service_reads_not_ready_at_once() -> None:
    settings = Settings(models_dir=REPO_MODELS_DIR, intra_op_threads=1)
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        state = client.app.state.biotag
        assert client.portal is not None
        client.portal.call(state.begin_drain, 60.0)
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["error"]["details"][0]["where"] == "shutdown"
