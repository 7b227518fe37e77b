"""The real service over HTTP (uvicorn in a subprocess): contracts a user relies on."""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RunningServer, start_server, stop_server

pytestmark = pytest.mark.slow

ABSTRACT = (
    "Patients with Ménière disease were enrolled in BRCA1 studies. The risk of cystic fibrosis "
    "increased among mice. Sjögren syndrome is caused by mutations in p53. We studied "
    "Duchenne muscular dystrophy and breast cancer in children."
)
OTHER_TEXTS = [
    "Treatment of tuberculosis with insulin reduced symptoms of hepatitis.",
    "No association between cisplatin and Crohn disease was found (p = 0.03).",
    "",
    "The controls group showed no signs of leukemia.",
]


def _tag(server: RunningServer, documents: list[dict[str, str]], **extra: object) -> dict:
    with server.client() as client:
        response = client.post("/tag", json={"documents": documents, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def _assert_contract(text: str, entities: list[dict]) -> None:
    previous_start = -1
    for entity in entities:
        assert 0 <= entity["start"] < entity["end"] <= len(text)
        assert entity["text"] == text[entity["start"] : entity["end"]]
        assert entity["text"] == entity["text"].strip()
        assert 0.0 <= entity["score"] <= 1.0
        assert entity["start"] >= previous_start
        previous_start = entity["start"]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("tiny-disease", {"Ménière disease", "cystic fibrosis", "breast cancer"}),
        ("tiny-bert", {"Ménière disease", "cystic fibrosis", "Sjögren syndrome", "breast cancer"}),
    ],
)
def test_tags_diseases_with_exact_offsets(
    server: RunningServer, model: str, expected: set[str]
) -> None:
    body = _tag(server, [{"id": "a", "text": ABSTRACT}], models=[model])
    entities = body["documents"][0]["entities"]
    _assert_contract(ABSTRACT, entities)
    assert expected <= {e["text"] for e in entities}
    assert all(e["type"] == "Disease" and e["model"] == model for e in entities)


def test_bare_text_and_all_models_by_default(server: RunningServer) -> None:
    with server.client() as client:
        body = client.post("/tag", json={"text": ABSTRACT}).json()
    models = {e["model"] for e in body["documents"][0]["entities"]}
    assert models == {"tiny-disease", "tiny-bert"}
    assert sorted(body["models"]) == ["tiny-bert", "tiny-disease"]


def test_same_entities_alone_batched_and_concurrent(server: RunningServer) -> None:
    alone = _tag(server, [{"id": "x", "text": ABSTRACT}])["documents"][0]["entities"]
    mixed_docs = [{"id": str(i), "text": t} for i, t in enumerate(OTHER_TEXTS)]
    mixed_docs.insert(2, {"id": "x", "text": ABSTRACT})
    batched = _tag(server, mixed_docs)["documents"][2]["entities"]
    assert batched == alone

    def one(index: int) -> list[dict]:
        docs = [
            {"id": "x", "text": ABSTRACT},
            {"id": "y", "text": OTHER_TEXTS[index % 4] * (index + 1)},
        ]
        return _tag(server, docs[:: 1 if index % 2 else -1])["documents"][index % 2 == 0][
            "entities"
        ]

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        concurrent_results = list(pool.map(one, range(16)))
    assert all(result == alone for result in concurrent_results)


def test_long_document_is_tagged_to_its_end(server: RunningServer) -> None:
    filler = "The cohort was followed for years and the controls were matched by age. " * 300
    text = filler + "Finally, patients with Huntington disease were enrolled."
    body = _tag(server, [{"id": "long", "text": text}], models=["tiny-disease", "tiny-bert"])
    entities = body["documents"][0]["entities"]
    _assert_contract(text, entities)
    tail = [e for e in entities if e["start"] > len(filler)]
    assert {e["model"] for e in tail if e["text"] == "Huntington disease"} == {
        "tiny-disease",
        "tiny-bert",
    }


HOSTILE = [
    "\x00\x01\x02 control \x7f characters and NUL",
    "astral 😀𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and patients with cystic fibrosis 🧬",
    "combining e\u0301 Me\u0301nie\u0300re disease",
    "ligatures ﬁbrosis ﬀ ﬃ in breast cancer",
    "RTL עברית العربية with Crohn disease",
    "CJK 漢字かなカナ 한국어 tuberculosis",
    "x" * 5000 + " hepatitis",
    "crlf\r\nlines\r\n\r\nwith\tTabs and\u00a0NBSP and\u2009thin spaces",
    "   ",
    "\u200b\u200c\u200d zero width \ufeff BOM",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_any_unicode_gives_valid_spans(server: RunningServer, text: str) -> None:
    body = _tag(server, [{"id": "h", "text": text}])
    _assert_contract(text, body["documents"][0]["entities"])


def test_whitespace_only_gives_no_entities(server: RunningServer) -> None:
    assert _tag(server, [{"text": "  \n\t "}])["documents"][0]["entities"] == []


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"{not json", 422, "malformed_json"),
        (b'{"documents": [{"text": 5}]}', 422, "validation_error"),
        (b'{"documents": [{"id": "no text"}]}', 422, "validation_error"),
        (b'{"documents": "nope"}', 422, "validation_error"),
        (b'{"text": "lone \\ud800 surrogate"}', 422, "validation_error"),
        (b'{"documents": [{"text": "x"}], "text": "y"}', 422, "validation_error"),
        (b'{"documents": []}', 422, "validation_error"),
        (b'{"text": "x", "models": ["../../etc/passwd"]}', 422, "validation_error"),
        (b'{"text": "x", "models": ["no-such-model"]}', 404, "unknown_model"),
        (
            b'{"documents": [' + b",".join([b'{"text": "a"}'] * 65) + b"]}",
            413,
            "too_many_documents",
        ),
        (b'{"text": "' + b"a" * 200_001 + b'"}', 413, "document_too_large"),
        (b'{"text": "' + b"a" * (9 * 1024 * 1024) + b'"}', 413, "request_too_large"),
    ],
)
def test_bad_input_gets_json_4xx_and_service_stays_ready(
    server: RunningServer, content: bytes, status: int, code: str
) -> None:
    with server.client() as client:
        response = client.post(
            "/tag", content=content, headers={"content-type": "application/json"}
        )
        assert response.status_code == status
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"]
        assert client.get("/readyz").status_code == 200


def test_metrics_expose_requests_latency_batches_and_queue(server: RunningServer) -> None:
    _tag(server, [{"text": ABSTRACT}])
    with server.client() as client:
        text = client.get("/metrics").text
    for name in (
        'biotag_http_requests_total{method="POST",route="/tag",status="200"}',
        "biotag_http_request_duration_seconds_bucket",
        "biotag_batch_size_bucket",
        "biotag_batch_tokens_bucket",
        "biotag_batch_padding_ratio_bucket",
        "biotag_inference_duration_seconds_bucket",
        'biotag_queue_depth{bundle="tiny-disease"}',
        'biotag_entities_total{model="tiny-disease",type="Disease"}',
        'biotag_model_info{bundle="tiny-disease",model="tiny-disease"',
    ):
        assert name in text, name


def test_models_endpoint_describes_heads(server: RunningServer) -> None:
    with server.client() as client:
        models = {m["name"]: m for m in client.get("/models").json()["models"]}
    assert models["tiny-disease"]["entity_types"] == ["Disease"]
    assert models["tiny-disease"]["scheme"] == "BIO"
    assert models["tiny-disease"]["provider"] == "cpu"


def test_broken_bundle_keeps_service_alive_but_not_ready(
    broken_models_dir: Path, tmp_path: Path
) -> None:
    running = start_server(broken_models_dir, tmp_path / "server.log")
    try:
        with running.client() as client:
            deadline = time.monotonic() + 60
            while client.get("/models").json()["models"] == [] and time.monotonic() < deadline:
                time.sleep(0.2)
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert "broken" in ready.json()["error"]["message"]
            assert client.get("/healthz").status_code == 200
            tagged = client.post("/tag", json={"text": ABSTRACT, "models": ["tiny-disease"]})
            assert tagged.status_code == 200
    finally:
        stop_server(running)


def test_openapi_documents_the_tag_contract(server: RunningServer) -> None:
    with server.client() as client:
        schema = client.get("/openapi.json").json()
        assert client.get("/docs").status_code == 200
    assert "/tag" in schema["paths"]
    assert {"TagRequest", "TagResponse", "ErrorResponse"} <= set(schema["components"]["schemas"])


def test_overload_answers_503_with_retry_after_and_oversize_413(
    tiny_bundles_dir: Path, tmp_path: Path
) -> None:
    # ABSTRACT makes 2 windows of 32 tokens: the first request admitted holds its 2 in the
    # queue for the whole 3 s wait, so every request arriving meanwhile finds no room for 2
    # more, however fast the machine runs the tiny model.
    running = start_server(
        tiny_bundles_dir,
        tmp_path / "server.log",
        BIOTAG_MAX_QUEUE_WINDOWS="3",
        BIOTAG_WINDOW_TOKENS="32",
        BIOTAG_WINDOW_STRIDE="4",
        BIOTAG_MAX_WAIT_MS="3000",
    )
    try:
        with running.client() as client:
            while client.get("/readyz").status_code != 200:
                time.sleep(0.2)
            too_long = client.post("/tag", json={"text": ABSTRACT * 8, "models": ["tiny-bert"]})
            assert too_long.status_code == 413
            assert too_long.json()["error"]["code"] == "request_too_large"

        def one(_: int) -> tuple[int, str | None]:
            with running.client() as client:
                response = client.post("/tag", json={"text": ABSTRACT, "models": ["tiny-bert"]})
                return response.status_code, response.headers.get("retry-after")

        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(one, range(32)))
        assert {status for status, _ in answers} <= {200, 503}
        assert (503, "1") in answers
        assert any(status == 200 for status, _ in answers)
        with running.client() as client:
            assert client.get("/readyz").status_code == 200
            assert 'biotag_rejections_total{reason="queue_full"}' in client.get("/metrics").text
    finally:
        stop_server(running)


def test_ids_are_echoed_and_numbers_accepted(server: RunningServer) -> None:
    body = _tag(server, [{"id": 12345, "text": "cystic fibrosis"}, {"text": "leukemia"}])
    assert [d["id"] for d in body["documents"]] == ["12345", "1"]


@pytest.mark.parametrize("shared_engine", ["true", "false"])
def test_several_workers_serve_one_port_and_sum_their_metrics(
    tiny_bundles_dir: Path, tmp_path: Path, server: RunningServer, shared_engine: str
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale file of an earlier run")
    running = start_server(
        tiny_bundles_dir,
        tmp_path / "server.log",
        BIOTAG_WORKERS="2",
        BIOTAG_SHARED_ENGINE=shared_engine,
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    try:
        deadline = time.monotonic() + 60
        while len(list(metrics_dir.glob("gauge_livemin_*.db"))) < 2:  # one file per worker
            assert time.monotonic() < deadline, running.log.read_text()
            time.sleep(0.2)
        documents = [{"id": "x", "text": ABSTRACT}, {"id": "y", "text": OTHER_TEXTS[1]}]

        def tag_on_own_connection(_: int) -> dict:
            with running.client() as client:  # a new connection lands on either worker
                response = client.post("/tag", json={"documents": documents})
                assert response.status_code == 200, response.text
                return response.json()

        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(tag_on_own_connection, range(20)))
        assert answers == [_tag(server, documents)] * 20  # as one process answers
        with running.client() as client:
            exposition = client.get("/metrics").text
        assert "biotag_documents_total 40.0" in exposition
        assert "biotag_ready 1.0" in exposition
    finally:
        stop_server(running)
    assert running.process.returncode == 0


def _connections_from(pid: int, port: int, client_ports: set[int]) -> int:
    """Established connections on ``port`` that process ``pid`` holds open with one of the
    given client ports at the other end (from /proc: nothing else, such as a readiness probe
    still closing, is counted)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        remote_port = int(fields[2].split(":")[1], 16)
        established = fields[3] == "01"
        if established and local_port == port and remote_port in client_ports:
            count += int(int(fields[9]) in inodes)
    return count


def _keep_alive_healthz(port: int) -> socket.socket:
    """A client connection that asked GET /healthz, got 200 and stays open."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.endswith(b"}"):
        chunk = connection.recv(4096)
        assert chunk, answer
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    return connection


def test_new_connections_spread_over_the_workers(tiny_bundles_dir: Path, tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    running = start_server(
        tiny_bundles_dir,
        tmp_path / "server.log",
        BIOTAG_WORKERS="4",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    connections: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        while len(list(metrics_dir.glob("gauge_livemin_*.db"))) < 5:  # 4 workers + the engine
            assert time.monotonic() < deadline, running.log.read_text()
            time.sleep(0.2)
        port = int(running.url.rsplit(":", 1)[1])
        with concurrent.futures.ThreadPoolExecutor(32) as pool:  # 32 connections at once
            connections = list(pool.map(lambda _: _keep_alive_healthz(port), range(32)))
        client_ports = {connection.getsockname()[1] for connection in connections}
        pid = running.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        per_process = sorted(
            (_connections_from(int(child), port, client_ports) for child in children),
            reverse=True,
        )
        assert sum(per_process) == 32, per_process
        # one shared socket gave one worker nearly all of them (27 / 4 / 1 / 0, 18 / 7 / 6 / 1)
        assert per_process[0] <= 16, per_process
        assert sum(1 for n in per_process if n) >= 3, per_process
    finally:
        for connection in connections:
            connection.close()
        stop_server(running)


def test_a_second_server_on_a_taken_port_is_refused(tiny_bundles_dir: Path, tmp_path: Path) -> None:
    running = start_server(tiny_bundles_dir, tmp_path / "server.log", BIOTAG_WORKERS="2")
    try:
        port = running.url.rsplit(":", 1)[1]
        command = [sys.executable, "-m", "biotag.cli", "serve", "--workers", "2", "--port", port]
        env = {**os.environ, "BIOTAG_MODELS_DIR": str(tiny_bundles_dir)}
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 1
        assert "Address already in use" in second.stderr
        for _ in range(10):  # new connections all reach the first server
            with running.client() as client:
                assert client.get("/models").json()["models"]
    finally:
        stop_server(running)


def test_sigterm_to_every_server_process_still_answers_requests_in_flight(
    tiny_bundles_dir: Path, tmp_path: Path
) -> None:
    """systemd (and Ctrl-C) signal all processes at once; the engine must outlive the drain."""
    running = start_server(
        tiny_bundles_dir, tmp_path / "server.log", BIOTAG_WORKERS="2", BIOTAG_MAX_WAIT_MS="1500"
    )
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            answer = pool.submit(_tag, running, [{"id": "late", "text": ABSTRACT}])
            time.sleep(0.5)  # the windows now wait in the engine's batcher
            pid = running.process.pid
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            for process in [pid, *map(int, children)]:
                os.kill(process, signal.SIGTERM)
            assert answer.result(timeout=30)["documents"][0]["id"] == "late"
        assert running.process.wait(timeout=30) == 0
    finally:
        stop_server(running)


def test_a_dead_worker_is_replaced(tiny_bundles_dir: Path, tmp_path: Path) -> None:
    running = start_server(tiny_bundles_dir, tmp_path / "server.log", BIOTAG_WORKERS="2")
    started = re.compile(r"Started server process \[(\d+)\]")
    try:
        deadline = time.monotonic() + 60
        while len(started.findall(running.log.read_text())) < 2:
            assert time.monotonic() < deadline, running.log.read_text()
            time.sleep(0.2)
        os.kill(int(started.findall(running.log.read_text())[0]), signal.SIGKILL)
        while len(started.findall(running.log.read_text())) < 3:  # its replacement
            assert time.monotonic() < deadline, running.log.read_text()
            time.sleep(0.2)
        for _ in range(10):  # new connections, on whichever worker
            with running.client() as client:
                assert client.post("/tag", json={"text": ABSTRACT}).status_code == 200
    finally:
        stop_server(running)
    assert running.process.returncode == 0


def test_the_server_stops_with_an_error_when_its_shared_engine_dies(
    tiny_bundles_dir: Path, tmp_path: Path
) -> None:
    running = start_server(tiny_bundles_dir, tmp_path / "server.log", BIOTAG_WORKERS="2")
    try:
        with running.client() as client:
            assert client.post("/tag", json={"text": ABSTRACT}).status_code == 200
        engine_pid = re.search(r"engine process (\d+) serves", running.log.read_text())
        assert engine_pid is not None, running.log.read_text()
        os.kill(int(engine_pid.group(1)), signal.SIGKILL)
        assert running.process.wait(timeout=30) == 1
        assert "shared engine process died" in running.log.read_text()
    finally:
        stop_server(running)
