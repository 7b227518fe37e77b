"""Session fixtures: tiny checkpoints trained here, their exported bundles, a real server."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


@dataclass(frozen=True)
class TinyCheckpoints:
    albert: Path
    bert: Path


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> TinyCheckpoints:
    from tests.support.tiny_models import build_tiny_albert, build_tiny_bert  # torch: export extra

    root = tmp_path_factory.mktemp("checkpoints")
    return TinyCheckpoints(
        albert=build_tiny_albert(root / "albert"), bert=build_tiny_bert(root / "bert")
    )


@pytest.fixture(scope="session")
def tiny_bundles_dir(
    tmp_path_factory: pytest.TempPathFactory, tiny_checkpoints: TinyCheckpoints
) -> Path:
    """A models folder with `tiny-disease` (ALBERT, SentencePiece) and `tiny-bert` (WordPiece)."""
    from biotag.export.pipeline import export_bundle

    root = tmp_path_factory.mktemp("models")
    export_bundle(tiny_checkpoints.albert, root / "tiny-disease")
    export_bundle(tiny_checkpoints.bert, root / "tiny-bert")
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, timeout: float = 60.0) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=timeout)


def start_server(models_dir: Path, log: Path, **env: str) -> RunningServer:
    """`biotag serve` in a subprocess on a free port; returns once /healthz answers."""
    port = free_port()
    environment = {**os.environ, "BIOTAG_INTRA_OP_THREADS": "1", **env}
    command = [sys.executable, "-m", "biotag.cli", "serve", "--models-dir", str(models_dir)]
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=environment,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return RunningServer(url, process, log)
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not start: {log.read_text()}")


def stop_server(server: RunningServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@contextlib.contextmanager
def ready_server(models_dir: Path, log: Path, **env: str) -> Iterator[RunningServer]:
    """`biotag serve` on ``models_dir`` once /readyz answers 200 (at most a minute), stopped
    on exit."""
    running = start_server(models_dir, log, **env)
    try:
        with running.client() as client:
            deadline = time.monotonic() + 60
            while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
                time.sleep(0.2)
        yield running
    finally:
        stop_server(running)


@pytest.fixture(scope="session")
def server(
    tiny_bundles_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    with ready_server(tiny_bundles_dir, tmp_path_factory.mktemp("logs") / "server.log") as running:
        yield running


@pytest.fixture
def broken_models_dir(tiny_bundles_dir: Path, tmp_path: Path) -> Path:
    """One good bundle and one whose graph files are corrupt."""
    shutil.copytree(tiny_bundles_dir / "tiny-disease", tmp_path / "tiny-disease")
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundles_dir / "tiny-bert", broken)
    for graph in broken.glob("*.onnx"):
        graph.write_bytes(b"not an onnx graph")
    return tmp_path
