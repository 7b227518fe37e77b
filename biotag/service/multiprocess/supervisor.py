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
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

from prometheus_client import multiprocess
from uvicorn.config import STARTUP_FAILURE

from biotag.service.api.app import create_app
from biotag.service.config import Settings
from biotag.service.multiprocess.engine_server import EngineStartError, SharedEngine, shared_engine
from biotag.service.serving import run_server

logger = logging.getLogger(__name__)
EXIT_FAILED = 1
_SUPERVISE_INTERVAL_S = 0.5
_QUICK_DEATH_S = 10.0  # a worker that dies sooner is restarted with a growing delay
_FIRST_BACKOFF_S = 0.5
_MAX_BACKOFF_S = 30.0
# prometheus-client's files grow in 64 KiB steps through mmap: on a full disk the first write to
# a page it cannot allocate kills the process (SIGBUS), so a worker only joins the summed
# metrics where there is room for them
_METRICS_HEADROOM_BYTES = 16 * 1024 * 1024


def serve_workers(settings: Settings, overrides: Mapping[str, object]) -> int:
    """Run ``settings.workers`` uvicorn workers until a signal stops them; the exit status.

    ``overrides``: settings given on the command line, passed to the workers' environment
    (each worker builds its settings and app from it).
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
        return _supervise(settings, engine)


def restart_delay(quick_deaths: int) -> float:
    """Seconds before a worker slot starts again after ``quick_deaths`` consecutive deaths
    soon after starting: at once after a worker that lived, then doubling, so that a worker
    that cannot live (a full disk, a broken install) does not burn the CPU in a restart loop."""
    if quick_deaths == 0:
        return 0.0
    return float(min(_FIRST_BACKOFF_S * 2 ** (quick_deaths - 1), _MAX_BACKOFF_S))


@dataclass
class _Slot:
    process: BaseProcess | None = None
    started_at: float = 0.0
    quick_deaths: int = 0
    restart_at: float = 0.0


def _supervise(settings: Settings, engine: SharedEngine | None) -> int:
    """Start the workers, restart one that dies, stop all on a signal or when the engine dies."""
    context = multiprocessing.get_context("spawn")
    stop = threading.Event()
    # the handler wakes the wait at once: the workers must stop accepting now, not at the next
    # supervision tick
    wake_reader, wake_writer = os.pipe()

    def on_signal(*_: object) -> None:
        stop.set()
        os.write(wake_writer, b"\0")

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    engine_socket = engine.socket if engine else None

    def start_worker(slot: _Slot) -> None:
        process = context.Process(target=_run_worker, args=(engine_socket,), name="biotag-worker")
        with _metrics_files_if_room():
            process.start()
        slot.process, slot.started_at = process, time.monotonic()

    slots = [_Slot() for _ in range(settings.workers)]
    for slot in slots:
        start_worker(slot)
    status = 0
    try:
        while not stop.is_set():
            sentinels = [slot.process.sentinel for slot in slots if slot.process is not None]
            sentinels.append(wake_reader)
            if engine is not None:
                sentinels.append(engine.process.sentinel)
            multiprocessing.connection.wait(sentinels, timeout=_SUPERVISE_INTERVAL_S)
            if engine is not None and not engine.process.is_alive():
                logger.error("the shared engine process died; stopping the server")
                status = EXIT_FAILED
                break
            for slot in slots:
                if stop.is_set():
                    break
                if slot.process is None:
                    if time.monotonic() >= slot.restart_at:
                        start_worker(slot)
                    continue
                if slot.process.is_alive():
                    continue
                if slot.process.exitcode == STARTUP_FAILURE:  # run_server's exit when startup fails
                    logger.error("a worker could not start serving; stopping the server")
                    status = EXIT_FAILED
                    stop.set()
                    break
                _forget_metrics_of(slot.process.pid)
                lived = time.monotonic() - slot.started_at
                slot.quick_deaths = slot.quick_deaths + 1 if lived < _QUICK_DEATH_S else 0
                delay = restart_delay(slot.quick_deaths)
                logger.error(
                    "worker %d exited (%s); starting another in %.1f s",
                    slot.process.pid,
                    slot.process.exitcode,
                    delay,
                )
                slot.process, slot.restart_at = None, time.monotonic() + delay
    finally:
        workers = [slot.process for slot in slots if slot.process is not None]
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)  # uvicorn drains in-flight requests
        for worker in workers:
            worker.join(settings.shutdown_timeout_s + 5)
            if worker.is_alive():
                worker.kill()
                worker.join()
            _forget_metrics_of(worker.pid)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_reader)
        os.close(wake_writer)
    return status


def _run_worker(engine_socket: Path | None) -> None:
    """Entry point of a spawned worker: its own socket on the shared port, one uvicorn server;
    its windows run in the shared engine process on ``engine_socket`` when there is one."""
    settings = Settings()  # from the environment, which the supervisor set
    sock = _listening_socket(settings.host, settings.port, reuse_port=True)
    sock.listen(2048)
    run_server(create_app(settings, engine_socket=engine_socket), settings, sockets=[sock])


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


def _forget_metrics_of(pid: int | None) -> None:
    """Drop a dead worker's live gauges (queue depth, readiness) from the summed metrics."""
    if pid is not None and "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def _metrics_files_if_room() -> Iterator[None]:
    """The environment a worker starts with: without PROMETHEUS_MULTIPROC_DIR where its disk
    is (nearly) full, so that the worker keeps answering, with metrics of its own only."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder is None or metrics_folder_has_room(Path(folder)):
        yield
        return
    logger.warning(
        "%s is full: a new worker keeps its metrics to itself (/metrics answered by it shows "
        "only its own) until there is room",
        folder,
    )
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]
    try:
        yield
    finally:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def metrics_folder_has_room(folder: Path) -> bool:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize >= _METRICS_HEADROOM_BYTES
