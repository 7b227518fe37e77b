"""docker/healthcheck.py: exit 0 only for a 200 from /readyz."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from deploy_support import DOCKER

SCRIPT = DOCKER / "healthcheck.py"


class _Handler(BaseHTTPRequestHandler):
    statuses: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        status = self.statuses.get(self.path, 404)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server() -> Iterator[tuple[ThreadingHTTPServer, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"statuses": {}})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd, handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def run_check(port: int) -> int:
    env = {**os.environ, "BIOTAG_PORT": str(port)}
    return subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, timeout=30, check=False
    ).returncode


@pytest.mark.parametrize(("status", "expected"), [(200, 0), (503, 1), (500, 1)])
def test_exit_code_follows_readyz(server, status: int, expected: int) -> None:
    httpd, handler = server
    handler.statuses.update({"/readyz": status, "/healthz": 200})
    assert run_check(httpd.server_address[1]) == expected


def test_nothing_listening_is_unhealthy() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert run_check(port) == 1
