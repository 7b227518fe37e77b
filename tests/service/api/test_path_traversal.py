"""No request can name a file or reach the file system: model names are looked up among the
loaded heads, static files (the page's, the API documentation's) among the names read at
start-up, and nothing else takes a path.

Hostile paths and model names go to the app in process (Starlette's TestClient on the committed
default bundle) while a Python audit hook records every file the process opens, and as raw
bytes over a socket to a real `biotag serve`: an HTTP client would normalise ``..`` away
before it sent anything, a socket sends what it is given."""

from __future__ import annotations

import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from biotag.service.api.app import create_app
from biotag.service.config import REPO_MODELS_DIR, Settings
from tests.conftest import ready_server

TEXT = "Cisplatin-induced nephrotoxicity was reduced in mice lacking the p53 gene."
SERVICE = Path(__file__).resolve().parents[3] / "biotag" / "service"
# what would show if a file were answered: /etc/passwd, the settings' source, the page's
# source, a bundle's manifest
FILE_MARKERS = ["root:", "BaseSettings", "def page_router", '"heads"', "import "]

HOSTILE_MODELS = [
    "../../etc/passwd",
    "/etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "default/../default",
    "..",
    ".",
    "default",  # the bundle's folder, not a model
    "bundle.json",
    "model.onnx",
    "disease/",
    "C:\\Windows\\win.ini",
    "~root/.ssh/id_rsa",
    "disease\x00.onnx",
    "file:///etc/passwd",
]
# percent-encoded forms survive an HTTP client; literal ``..`` forms go over the raw socket
HOSTILE_PATHS = [
    "/static/..%2f..%2fconfig.py",
    "/static/..%2F..%2F..%2Fbiotag%2Fservice%2Fconfig.py",
    "/static/%2e%2e%2f%2e%2e%2fconfig.py",
    "/static/%252e%252e%252fconfig.py",
    "/static/..%5c..%5cconfig.py",
    "/static/%2Fetc%2Fpasswd",
    "/static/page.py",
    "/static/__init__.py",
    "/static/page.js%00.py",
    "/static/page.js/..%2f..%2fpage.py",
    "/static/..;/page.py",
    "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/etc/passwd",
    "/models/..%2f..%2fetc%2fpasswd",
    "/page/config/..%2f..%2fconfig.py",
    "/docs/..%2f..%2fetc%2fpasswd",
    "/docs/assets/..%2fcore.py",
    "/docs/assets/..%2f..%2f..%2fbiotag%2fservice%2fconfig.py",
    "/docs/assets/static%2fswagger-ui.css",
    "/tag/%2e%2e%2fmodels",
]
RAW_PATHS = [
    "/static/../../biotag/service/config.py",
    "/static/../page.py",
    "/static/./../../../../../etc/passwd",
    "/../../../../etc/passwd",
    "/static/..\\..\\config.py",
    "/static/%2e%2e/%2e%2e/config.py",
    "/static//etc/passwd",
    "//etc/passwd",
    "/static/page.js/../../page.py",
    "/models/../../etc/passwd",
    "/static/..%2f..%2fconfig.py",
    "/docs/assets/../core.py",
    "/docs/assets/../../fastapi_offline/core.py",
]

# FastAPI reads an endpoint's own source once (inspect.getsourcelines) to place it in its
# validation errors: the only files a request may open, and no input chooses them
ENDPOINT_SOURCES = {
    str(SERVICE / "api" / module) for module in ("routes.py", "page.py", "docs_pages.py")
}

_opened: list[str] | None = None  # while not None: every file the process opens


def _data_files(opened: list[str]) -> list[str]:
    """The opened files that are neither an endpoint's source nor a module being imported
    (a lazily imported codec, say)."""
    code_roots = (sys.prefix, sys.base_prefix)
    return [
        path
        for path in opened
        if path not in ENDPOINT_SOURCES
        and not (path.startswith(code_roots) and path.endswith((".py", ".pyc", ".so")))
    ]


def _record_opens(event: str, args: tuple[Any, ...]) -> None:
    if _opened is not None and event == "open":
        _opened.append(str(args[0]))


sys.addaudithook(_record_opens)  # hooks cannot be removed; this one is idle outside the tests


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    settings = Settings(models_dir=REPO_MODELS_DIR, intra_op_threads=1)
    with TestClient(create_app(settings), raise_server_exceptions=False) as running:
        yield running


@pytest.fixture
def opened() -> Iterator[list[str]]:
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


def _refused_in_envelope(response: Any, statuses: set[int]) -> str:
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    code: str = response.json()["error"]["code"]  # the envelope: never a file's bytes
    assert not any(marker in response.text for marker in FILE_MARKERS), response.text
    return code


def test_model_names_are_looked_up_never_opened(client: TestClient, opened: list[str]) -> None:
    for name in HOSTILE_MODELS:
        answer = client.post("/tag", json={"text": TEXT, "models": [name]})
        code = _refused_in_envelope(answer, {404, 422})
        assert code in {"unknown_model", "validation_error"}, (name, code)
    assert client.post("/tag", json={"text": TEXT, "models": ["disease"]}).status_code == 200
    assert _data_files(opened) == []  # the bundles were read at start-up, once


def test_paths_name_no_file(client: TestClient, opened: list[str]) -> None:
    for path in HOSTILE_PATHS:
        for method in ("GET", "POST"):
            answer = client.request(method, path)
            assert _refused_in_envelope(answer, {404, 405}) in {"not_found", "method_not_allowed"}
    for fmt in ("../../etc/passwd", "/etc/passwd", "..%2fconfig.py"):
        answer = client.post("/tag", params={"format": fmt}, json={"text": TEXT})
        assert _refused_in_envelope(answer, {422}) == "validation_error"
    # the real files still answer
    assert client.get("/static/page.js").status_code == 200
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200
    assert _data_files(opened) == []


def _raw_get(port: int, path: str) -> tuple[int, bytes]:
    """One HTTP/1.1 request with the path exactly as given; the status line's code and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        sock.sendall(request.encode("latin-1"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.slow
def test_raw_paths_to_a_real_server_reach_no_file(tmp_path: Path) -> None:
    with ready_server(REPO_MODELS_DIR, tmp_path / "server.log") as server:
        port = int(server.url.rsplit(":", 1)[1])
        assert _raw_get(port, "/static/page.js")[0] == 200  # the socket path itself works
        for path in RAW_PATHS:
            status, body = _raw_get(port, path)
            text = body.decode("utf-8", "replace")
            assert status == 404, (path, status, text[:200])
            assert json.loads(text)["error"]["code"] == "not_found", path
            assert not any(marker in text for marker in FILE_MARKERS), (path, text[:200])


def test_the_audit_hook_sees_opens() -> None:
    """The hook the file checks rely on does see a file the process opens."""
    global _opened
    _opened = []
    try:
        thread = threading.Thread(target=(SERVICE / "config.py").read_bytes)
        thread.start()
        thread.join()
        assert any(path.endswith("config.py") for path in _opened)
    finally:
        _opened = None
