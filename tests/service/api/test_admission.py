"""Admission control against a real `biotag serve`: past the limit a POST /tag is refused 429
with Retry-After, its id and its count, logged once a second; without a valid key it never
holds a place."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from biotag.service.api.admission import RefusalLog
from tests.conftest import RunningServer, ready_server
from tests.service.api.raw_http import address, read_answer

MODELS = Path(__file__).resolve().parents[3] / "models"
ABSTRACT = "BRCA1 mutations cause hereditary breast cancer."
KEY = "admission-test-key"
PARTIAL_BODY = b'{"text": '
DECLARED = 100


def _hold_a_place(server: RunningServer, headers: str = "") -> socket.socket:
    """A connection whose POST /tag body is still arriving: admitted, it holds its place."""
    holder = socket.create_connection(address(server))
    holder.sendall(
        b"POST /tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + headers.encode("ascii")
        + f"Content-Length: {DECLARED}\r\n\r\n".encode("ascii")
        + PARTIAL_BODY
    )
    time.sleep(0.5)
    return holder


def _finish(holder: socket.socket) -> tuple[int, bytes]:
    rest = json.dumps(ABSTRACT).encode() + b"}"
    holder.sendall(rest + b" " * (DECLARED - len(PARTIAL_BODY) - len(rest)))
    status, _, body = read_answer(holder, within_s=30)
    return status, body


def _refusals_logged(log: str) -> int:
    counted = re.findall(r"refused (\d+) time\(s\) in 1 s: too_many_requests", log)
    return sum(int(count) for count in counted)


@pytest.fixture
def one_place(tmp_path: Path) -> Iterator[RunningServer]:
    with ready_server(MODELS, tmp_path / "server.log", BIOTAG_MAX_CONCURRENT_REQUESTS="1") as one:
        yield one


@pytest.mark.slow
def test_requests_past_the_limit_get_429_with_retry_after_their_id_and_a_count(
    one_place: RunningServer,
) -> None:
    with _hold_a_place(one_place) as holder, one_place.client() as client:
        refusals = [
            client.post("/tag", json={"text": ABSTRACT}, headers={"X-Request-ID": f"storm-{i}"})
            for i in range(3)
        ]
        metrics = client.get("/metrics").text
        for number, refused in enumerate(refusals):
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "1"
            assert refused.headers["x-request-id"] == f"storm-{number}"
            assert refused.json()["error"]["code"] == "too_many_requests"
        assert 'biotag_rejections_total{reason="too_many_requests"} 3.0' in metrics
        assert 'biotag_http_requests_total{method="POST",route="/tag",status="429"} 3.0' in metrics
        assert "biotag_requests_in_flight 1.0" in metrics
        status, body = _finish(holder)
        assert status == 200
        assert json.loads(body)["documents"][0]["entities"]
    deadline = time.monotonic() + 10  # a line is written at the end of its refusals' second
    while _refusals_logged(log := one_place.log.read_text()) < 3:
        assert time.monotonic() < deadline, log
        time.sleep(0.1)
    assert "storm-0" not in log  # refusals are counted in one line, not one line each


@pytest.mark.slow
def test_a_request_without_the_key_never_holds_a_place(tmp_path: Path) -> None:
    with ready_server(
        MODELS,
        tmp_path / "server.log",
        BIOTAG_MAX_CONCURRENT_REQUESTS="1",
        BIOTAG_API_KEY=KEY,
    ) as server:
        bearer = {"Authorization": f"Bearer {KEY}"}
        with _hold_a_place(server) as keyless, server.client() as client:
            # the keyless body is still arriving, yet the place is free for a client with a key
            admitted = client.post("/tag", json={"text": ABSTRACT}, headers=bearer)
            assert admitted.status_code == 200
            status, _ = _finish(keyless)
            assert status == 401
        with _hold_a_place(server, f"Authorization: Bearer {KEY}\r\n") as keyed:
            with server.client() as client:
                without_key = client.post("/tag", json={"text": ABSTRACT})
                refused = client.post("/tag", json={"text": ABSTRACT}, headers=bearer)
            assert without_key.status_code == 401  # not told anything about the load
            assert refused.status_code == 429
            status, _ = _finish(keyed)
            assert status == 200


def test_the_refusal_log_writes_one_line_per_interval_with_its_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def storm() -> None:
        log = RefusalLog(limit=16, interval_s=0.05)
        for _ in range(5):
            log.refused()
        await asyncio.sleep(0.15)
        log.refused()
        await asyncio.sleep(0.15)

    with caplog.at_level(logging.INFO, logger="biotag.service.api.admission"):
        asyncio.run(storm())

    assert [record.getMessage() for record in caplog.records] == [
        "POST /tag refused 5 time(s) in 0.05 s: too_many_requests (16 admitted already)",
        "POST /tag refused 1 time(s) in 0.05 s: too_many_requests (16 admitted already)",
    ]
