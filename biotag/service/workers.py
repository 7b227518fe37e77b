"""`biotag serve` with several worker processes: their environment, the shared engine process,
and a watchdog that stops the server when that engine dies."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing.process
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import uvicorn

from biotag.service.config import Settings
from biotag.service.engine_process import shared_engine

logger = logging.getLogger(__name__)
EXIT_ENGINE_DIED = 1


def serve_workers(
    settings: Settings, overrides: Mapping[str, object], server: dict[str, Any]
) -> int:
    """Run ``settings.workers`` uvicorn workers until a signal stops them; the exit status.

    ``overrides``: settings given on the command line, passed to the workers' environment
    (each worker builds its app from it); ``server``: uvicorn options.
    """
    os.environ.update({f"BIOTAG_{key.upper()}": str(value) for key, value in overrides.items()})
    cores = os.cpu_count() or 1
    # the tokenizers' Rust thread pool sizes itself to every core in each worker otherwise
    os.environ.setdefault("RAYON_NUM_THREADS", str(max(1, cores // settings.workers)))
    with _multiprocess_metrics():
        if not settings.shared_engine:
            _run_uvicorn(settings, server)
            return 0
        with shared_engine() as engine:
            os.environ["BIOTAG_ENGINE_SOCKET"] = str(engine.socket)
            died = threading.Event()
            stopped = threading.Event()
            watchdog = threading.Thread(
                target=_stop_server_if_engine_dies,
                args=(engine.process, died, stopped),
                name="biotag-engine-watchdog",
                daemon=True,
            )
            watchdog.start()
            try:
                _run_uvicorn(settings, server)
            finally:
                stopped.set()
            if died.is_set():
                logger.error("the shared engine process died; the server stopped")
                return EXIT_ENGINE_DIED
    return 0


def _run_uvicorn(settings: Settings, server: dict[str, Any]) -> None:
    uvicorn.run("biotag.service.app:create_app", factory=True, workers=settings.workers, **server)


def _stop_server_if_engine_dies(
    process: multiprocessing.process.BaseProcess,
    died: threading.Event,
    stopped: threading.Event,
) -> None:
    """Without its engine no worker can tag: stop them all (a supervisor restarts the whole)."""
    process.join()
    if not stopped.is_set():
        died.set()
        os.kill(os.getpid(), signal.SIGTERM)


@contextlib.contextmanager
def _multiprocess_metrics() -> Iterator[None]:
    """An empty folder for prometheus-client's per-process files: a private one, removed at
    the end, or PROMETHEUS_MULTIPROC_DIR's, cleared of an earlier run's files (they would be
    summed in)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder is not None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
        yield
        return
    private = tempfile.mkdtemp(prefix="biotag-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = private
    try:
        yield
    finally:
        shutil.rmtree(private, ignore_errors=True)
