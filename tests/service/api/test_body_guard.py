"""Bodies and headers the service will not parse, against a real `biotag serve`: every client
reads its answer in the error envelope, in bounded time, and the service goes on serving."""

from __future__ import annotations

import gzip
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import RunningServer, ready_server
from tests.service.api.raw_http import address, read_answer

pytestmark = pytest.mark.slow
MODELS = Path(__file__).resolve().parents[3] / "models"
BODY_TIMEOUT_S = 2.0
HEADER_TIMEOUT_S = 1.0
ABSTRACT = "BRCA1 mutations cause hereditary breast cancer."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    log = tmp_path_factory.mktemp("guard") / "server.log"
    with ready_server(
        MODELS,
        log,
        BIOTAG_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        BIOTAG_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
    ) as running:
        yield running


def http_error_code(caught: pytest.ExceptionInfo[urllib.error.HTTPError]) -> str:
    with caught.value:
        return error_code(caught.value.read())


def error_code(body: bytes) -> str:
    code: str = json.loads(body)["error"]["code"]
    return code


def unread_answers(server: RunningServer, status: int) -> float:
    """How many answers /metrics counts for connections answered before a request was read."""
    with server.client() as client:
        text = client.get("/metrics").text
    series = f'biotag_http_requests_total{{method="-",route="unread",status="{status}"}} '
    return sum(
        float(line.removeprefix(series)) for line in text.splitlines() if line.startswith(series)
    )


def still_serves(server: RunningServer) -> None:
    with server.client() as client:
        answer = client.post("/tag", json={"text": ABSTRACT})
    assert answer.status_code == 200
    assert answer.json()["documents"][0]["entities"]


def test_urllib_reads_the_413_for_a_20_mb_body(server: RunningServer) -> None:
    body = json.dumps({"text": "a" * (20 * 1024 * 1024)}).encode()
    request = urllib.request.Request(
        f"{server.url}/tag", data=body, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert caught.value.code == 413
    assert http_error_code(caught) == "request_too_large"
    still_serves(server)


def test_urllib_reads_the_413_for_a_chunked_body_over_the_limit(server: RunningServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"a" * (1024 * 1024)
        yield b'"}'

    request = urllib.request.Request(
        f"{server.url}/tag",
        data=chunks(),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert caught.value.code == 413
    assert http_error_code(caught) == "request_too_large"


def test_a_client_waiting_for_100_continue_is_answered_before_it_sends(
    server: RunningServer,
) -> None:
    with socket.create_connection(address(server)) as sock:
        sock.sendall(
            b"POST /tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 20000000\r\nExpect: 100-continue\r\n\r\n"
        )
        status, headers, body = read_answer(sock, within_s=10)
    assert status == 413
    assert headers["connection"] == "close"
    assert error_code(body) == "request_too_large"


def test_a_body_past_the_drain_bound_is_answered_and_the_connection_closed(
    server: RunningServer,
) -> None:
    with socket.create_connection(address(server)) as sock:
        sock.sendall(
            b"POST /tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000000000\r\n\r\n" + b"a" * 65536
        )
        status, headers, body = read_answer(sock, within_s=10)
    assert (status, headers["connection"]) == (413, "close")
    assert error_code(body) == "request_too_large"


def test_a_body_that_trickles_gets_408_within_the_body_timeout(server: RunningServer) -> None:
    began = time.monotonic()
    with socket.create_connection(address(server)) as sock:
        sock.sendall(
            b"POST /tag HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"text": "'
        )
        sock.settimeout(0.5)
        status = None
        for _ in range(int(BODY_TIMEOUT_S * 6)):  # one byte every half second
            try:
                sock.sendall(b"a")
                peeked = sock.recv(65536, socket.MSG_PEEK)
            except TimeoutError:
                continue
            if peeked:
                status, headers, body = read_answer(sock, within_s=5)
                break
    assert status == 408
    assert headers["connection"] == "close"
    assert error_code(body) == "request_timeout"
    assert time.monotonic() - began < BODY_TIMEOUT_S * 3
    still_serves(server)


def test_headers_that_trickle_get_408_within_the_header_timeout(server: RunningServer) -> None:
    counted = unread_answers(server, 408)
    began = time.monotonic()
    with socket.create_connection(address(server)) as sock:
        sock.sendall(b"POST /tag HTTP/1.1\r\nHost: x\r\n")
        sock.settimeout(0.25)
        answer = b""
        for byte in b"X-Slow: " + b"a" * 40:
            try:
                sock.sendall(bytes([byte]))
                answer = sock.recv(65536, socket.MSG_PEEK)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if answer:
                break
        status, headers, body = read_answer(sock, within_s=5)
    assert status == 408
    assert error_code(body) == "request_timeout"
    assert time.monotonic() - began < HEADER_TIMEOUT_S * 5
    assert re.fullmatch(r"[0-9a-f]{32}", headers["x-request-id"])
    assert unread_answers(server, 408) == counted + 1


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    server: RunningServer,
) -> None:
    with socket.create_connection(address(server)) as sock:
        sock.settimeout(HEADER_TIMEOUT_S * 10)
        assert sock.recv(65536) == b""


def test_bytes_that_are_not_http_get_400_in_the_envelope(server: RunningServer) -> None:
    counted = unread_answers(server, 400)
    with socket.create_connection(address(server)) as sock:
        sock.sendall(b"\x16\x03\x01\x02\x00 this is not http\r\n\r\n")
        status, headers, body = read_answer(sock, within_s=10)
    assert status == 400
    assert error_code(body) == "bad_request"
    request_id = headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert f"answered 400 bad_request (request id {request_id})" in server.log.read_text()
    assert unread_answers(server, 400) == counted + 1


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"Content-Type": "text/plain"}, json.dumps({"text": ABSTRACT}).encode()),
        ({"Content-Type": "multipart/form-data; boundary=x"}, b"--x\r\n\r\nabc\r\n--x--\r\n"),
        (
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            gzip.compress(b'{"text": "' + b"0" * 10_000_000 + b'"}'),
        ),
    ],
    ids=["text-plain", "multipart", "gzip-bomb"],
)
def test_bodies_that_are_not_plain_json_get_415(
    server: RunningServer, headers: dict[str, str], body: bytes
) -> None:
    request = urllib.request.Request(f"{server.url}/tag", data=body, headers=headers)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 415
    assert http_error_code(caught) == "unsupported_media_type"
