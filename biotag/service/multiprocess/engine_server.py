"""The shared engine process: one owner of the ONNX Runtime sessions for all server workers.

With ``workers`` > 1, `biotag serve` starts this process first. It loads and warms up every
bundle, runs one batcher per bundle and answers the workers over a Unix socket. The workers
tokenise, decode and speak HTTP; windows of all of them meet in one queue, so batches are as
full as the load allows, the GPU holds one CUDA context instead of one per worker (contexts
time-slice the GPU and each costs memory), and on the CPU one session uses the cores instead of
one per worker competing for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from biotag.service.config import Settings
from biotag.service.inference.batcher import WindowRunner
from biotag.service.inference.runtime import running
from biotag.service.metrics import Metrics
from biotag.service.multiprocess.engine_protocol import (
    Kind,
    ProtocolError,
    Result,
    RunRequest,
    Status,
    decode_cancel,
    decode_run,
    encode_hello,
    encode_result,
    failure,
    frame,
    kind_of,
    read_frame,
)

logger = logging.getLogger(__name__)
_STOP_TIMEOUT_S = 30.0


class EngineStartError(RuntimeError):
    """The engine process exited before it was ready."""


@dataclass(frozen=True)
class SharedEngine:
    socket: Path
    process: multiprocessing.process.BaseProcess
    hello: dict[str, Any]


@contextlib.contextmanager
def shared_engine() -> Iterator[SharedEngine]:
    """Start the engine process, wait until its bundles are warm, stop it on exit.

    It reads its settings from the environment, as the workers do.
    """
    folder = Path(tempfile.mkdtemp(prefix="biotag-engine-"))
    socket = folder / "engine.sock"
    context = multiprocessing.get_context("spawn")
    # the engine's lifeline: it answers with its hello when ready and stops when this end
    # closes, which also happens if this process dies
    parent_end, engine_end = context.Pipe()
    process = context.Process(
        target=run_engine_process, args=(str(socket), engine_end), name="biotag-engine"
    )
    serving = False
    try:
        process.start()
        engine_end.close()
        multiprocessing.connection.wait([parent_end, process.sentinel])
        if not parent_end.poll():
            process.join()
            raise EngineStartError(f"the engine process exited ({process.exitcode}) unready")
        hello: dict[str, Any] = parent_end.recv()
        serving = True
        yield SharedEngine(socket, process, hello)
    finally:
        parent_end.close()
        if serving:  # it notices the closed lifeline and stops; while loading it would not
            process.join(_STOP_TIMEOUT_S)
        if process.is_alive():
            process.kill()
            process.join()
        shutil.rmtree(folder, ignore_errors=True)


def run_engine_process(socket: str, lifeline: Connection) -> None:
    """Entry point of the spawned process."""
    # Signals for the server (Ctrl-C reaches the whole process group, systemd signals every
    # process of the unit) must not stop the engine while the workers drain their requests,
    # which still need it: the parent closes the lifeline once they are done
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s:     [engine] %(message)s"
    )
    asyncio.run(_serve(settings, Path(socket), lifeline))


async def _serve(settings: Settings, socket: Path, lifeline: Connection) -> None:
    metrics = Metrics()
    stop = asyncio.Event()
    connections: dict[asyncio.StreamWriter, asyncio.Task[Any]] = {}
    try:
        async with running(settings, metrics) as runtime:
            hello = {
                "provider": next((b.provider for b in runtime.registry.bundles.values()), None),
                "bundles": sorted(runtime.registry.bundles),
                "errors": runtime.registry.errors,
            }
            server = await asyncio.start_unix_server(
                partial(_serve_worker, runtime.batchers, encode_hello(hello), connections),
                path=str(socket),
            )
            metrics.ready.set(1 if runtime.ready else 0)
            logger.info("engine process %d serves the workers on %s", os.getpid(), socket)
            lifeline.send(hello)
            asyncio.get_running_loop().add_reader(lifeline.fileno(), stop.set)  # closed: stop
            async with server:
                await stop.wait()
                handlers = list(connections.values())
                for writer in list(connections):  # their handlers see the end and return
                    writer.close()
                await asyncio.gather(*handlers, return_exceptions=True)
            metrics.ready.set(0)
    finally:
        metrics.process_exited()


async def _serve_worker(
    runners: Mapping[str, WindowRunner],
    hello: bytes,
    connections: dict[asyncio.StreamWriter, asyncio.Task[Any]],
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> None:
    """One worker's connection: answer each RUN when its windows ran, in any order."""
    handler = asyncio.current_task()
    if handler is not None:
        connections[writer] = handler
    writer.write(frame(hello))
    in_flight: dict[int, asyncio.Task[None]] = {}
    try:
        while (body := await read_frame(reader)) is not None:
            kind = kind_of(body)
            if kind is Kind.RUN:
                request = decode_run(body)
                task = asyncio.ensure_future(_answer(runners, request, writer))
                in_flight[request.request_id] = task
                task.add_done_callback(partial(_forget, in_flight, request.request_id))
            elif kind is Kind.CANCEL:
                cancelled = in_flight.get(decode_cancel(body).request_id)
                if cancelled is not None:
                    cancelled.cancel()
            else:
                raise ProtocolError(f"a worker sent a {kind.name} frame")
    except (ProtocolError, ConnectionError, asyncio.IncompleteReadError) as exc:
        logger.error("dropping a worker connection: %r", exc)
    finally:
        for task in list(in_flight.values()):
            task.cancel()
        connections.pop(writer, None)
        writer.close()


def _forget(in_flight: dict[int, asyncio.Task[None]], request_id: int, _: object) -> None:
    in_flight.pop(request_id, None)


async def _answer(
    runners: Mapping[str, WindowRunner], request: RunRequest, writer: asyncio.StreamWriter
) -> None:
    runner = runners.get(request.bundle)
    try:
        if runner is None:
            raise LookupError(f"no bundle {request.bundle!r}")
        result = Result(request.request_id, Status.OK, await runner.run(request.sequences))
    except Exception as exc:  # refusals travel back; a failing batch fails its requests only
        result = failure(request.request_id, exc)
        if result.status is Status.FAILED:
            logger.exception("bundle %s: batch failed", request.bundle)
    if not writer.is_closing():
        writer.write(frame(encode_result(result)))
