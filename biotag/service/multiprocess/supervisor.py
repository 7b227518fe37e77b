"""`biotag serve` with several worker processes: each listens on its own SO_REUSEPORT socket,
beside the shared engine process; this parent supervises them.

Why not uvicorn's own ``workers``: there all workers accept from one shared socket, and an
event loop that wakes first accepts every pending connection at once (on a 4-worker server 32
keep-alive clients landed 27 / 4 / 1 / 0), so a few workers did all the work while the rest
idled. With one socket per worker the kernel spreads new connections over them.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator, Mapping
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvicorn

from biotag.service.api.app import create_app
from biotag.service.config import Settings
from biotag.service.multiprocess.engine_server import EngineStartError, SharedEngine, shared_engine

logger = logging.getLogger(__name__)
EXIT_FAILED = 1
_STARTUP_FAILURE = 3  # uvicorn's exit status when a worker cannot start serving
_SUPERVISE_INTERVAL_S = 0.5


def serve_workers(
    settings: Settings, overrides: Mapping[str, object], server: dict[str, Any]
) -> int:
    """Run ``settings.workers`` uvicorn workers until a signal stops them; the exit status.

    ``overrides``: settings given on the command line, passed to the workers' environment
    (each worker builds its app from it); ``server``: uvicorn options, host and port included.
    """
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s:     [supervisor] %(message)s"
    )
    try:  # without SO_REUSEPORT: a server already on the port (even another biotag) refuses it
        _listening_socket(settings.host, settings.port, reuse_port=False).close()
    except OSError as exc:
        logger.error("cannot listen on %s:%d: %s", settings.host, settings.port, exc)
        return EXIT_FAILED
    os.environ.update({f"BIOTAG_{key.upper()}": str(value) for key, value in overrides.items()})
    cores = os.cpu_count() or 1
    # the tokenizers' Rust thread pool sizes itself to every core in each worker otherwise
    os.environ.setdefault("RAYON_NUM_THREADS", str(max(1, cores // settings.workers)))
    with _multiprocess_metrics(), contextlib.ExitStack() as stack:
        engine = None
        if settings.shared_engine:
            try:
                engine = stack.enter_context(shared_engine())
            except EngineStartError as exc:
                logger.error("%s", exc)
                return EXIT_FAILED
        logger.info(
            "serving on http://%s:%d with %d workers%s",
            settings.host,
            settings.port,
            settings.workers,
            " and a shared engine process" if engine else "",
        )
        return _supervise(settings, server, engine)


def _supervise(settings: Settings, server: dict[str, Any], engine: SharedEngine | None) -> int:
    """Start the workers, restart one that dies, stop all on a signal or when the engine dies."""
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }

    engine_socket = engine.socket if engine else None

    def start_worker() -> BaseProcess:
        process = context.Process(
            target=_run_worker, args=(server, engine_socket), name="biotag-worker"
        )
        process.start()
        return process

    workers = [start_worker() for _ in range(settings.workers)]
    status = 0
    try:
        while not stop.is_set():
            sentinels = [w.sentinel for w in workers]
            if engine is not None:
                sentinels.append(engine.process.sentinel)
            multiprocessing.connection.wait(sentinels, timeout=_SUPERVISE_INTERVAL_S)
            if engine is not None and not engine.process.is_alive():
                logger.error("the shared engine process died; stopping the server")
                status = EXIT_FAILED
                break
            for index, worker in enumerate(workers):
                if worker.is_alive() or stop.is_set():
                    continue
                if worker.exitcode == _STARTUP_FAILURE:
                    logger.error("a worker could not start serving; stopping the server")
                    status = EXIT_FAILED
                    stop.set()
                    break
                logger.error("worker %d exited (%s); starting another", worker.pid, worker.exitcode)
                workers[index] = start_worker()
    finally:
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)  # uvicorn drains in-flight requests
        for worker in workers:
            worker.join(settings.shutdown_timeout_s + 5)
            if worker.is_alive():
                worker.kill()
                worker.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


def _run_worker(server: dict[str, Any], engine_socket: Path | None) -> None:
    """Entry point of a spawned worker: its own socket on the shared port, one uvicorn server;
    its windows run in the shared engine process on ``engine_socket`` when there is one."""
    sock = _listening_socket(server["host"], server["port"], reuse_port=True)
    sock.listen(2048)
    app = create_app(Settings(), engine_socket=engine_socket)  # settings from the environment
    uvicorn.Server(uvicorn.Config(app, **server)).run(sockets=[sock])


def _listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A socket bound to the address (not listening yet)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


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
