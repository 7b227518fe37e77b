"""`biotag tag --workers N`: N processes tag input files at once, each with its own runtime
(tokenizer, ONNX Runtime session with cores/N threads, batcher), for many-core hosts where one
process's Python (reading, tokenising, decoding) cannot keep every core busy.

A worker writes a whole part (errors file, part, atomically) exactly as a single process does;
the parent records each finished part in the manifest as it comes back. Parts are per input
file, so the output is the same whatever N, and ``--resume`` works the same.
"""

from __future__ import annotations

import asyncio
import io
import os
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from biotag.bulk.engines import Engine, describe_models, in_process
from biotag.bulk.inputs import InputFile
from biotag.bulk.pipeline import Options, Outcome, Run, _Part, _tag_file, close_part, run_identity
from biotag.bulk.progress import Counts, Progress
from biotag.bulk.records import ReaderError
from biotag.bulk.writer import PartWriter


@dataclass
class _Worker:  # this process's runtime, when it is a worker
    loop: asyncio.AbstractEventLoop
    context: AbstractAsyncContextManager[Engine]
    engine: Engine


_WORKER: list[_Worker] = []  # set once by `_start` in each worker process


@dataclass(frozen=True)
class FileDone:
    file: str | None  # the part's name, None when the input could not be read
    counts: dict[str, Any] = field(default_factory=dict)
    errors_file: str | None = None
    failed: str | None = None  # why the input could not be read


def _start(models: list[str], models_dir: Path | None, threads: int) -> None:
    loop = asyncio.new_event_loop()
    context = in_process(models, models_dir, threads)
    _WORKER.append(_Worker(loop, context, loop.run_until_complete(context.__aenter__())))


def _tag_one(source: InputFile, options: Options, models: list[str], today: date) -> FileDone:
    worker = _WORKER[0]
    writer = PartWriter(
        options.output_dir, source.part, options.output, models, str(source.path), today
    )
    part = _Part(writer, str(source.path), options.output)
    quiet = Progress(1, source.size, quiet=True, stream=io.StringIO())
    try:
        worker.loop.run_until_complete(_tag_file(worker.engine, source, options, quiet, part))
    except ReaderError as exc:
        writer.discard()
        return FileDone(None, failed=str(exc))
    except BaseException:
        writer.discard()
        raise
    errors_file = close_part(options.output_dir, source, part)
    return FileDone(writer.path.name, part.counts.as_dict(), errors_file)


def run_workers(
    workers: int,
    inputs: list[InputFile],
    options: Options,
    progress: Progress,
    models: list[str] | None,
    models_dir: Path | None,
    threads: int | None,
) -> Outcome:
    names, identity = describe_models(models, models_dir)
    state = Run(names, run_identity(identity, options), options, progress)
    pending = state.to_do(inputs)
    per_worker = threads if threads is not None else max(1, (os.cpu_count() or 1) // workers)
    began = time.monotonic()
    pool = ProcessPoolExecutor(
        min(workers, max(1, len(pending))),
        mp_context=get_context("spawn"),  # no fork of a process that may hold threads
        initializer=_start,
        initargs=(names, models_dir, per_worker),
    )
    try:
        running: dict[Future[FileDone], InputFile] = {
            pool.submit(_tag_one, source, options, names, state.today): source for source in pending
        }
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                source = running.pop(future)
                done = future.result()  # a worker's engine error ends the run here
                if done.file is None:
                    state.outcome.failed_files[str(source.path)] = str(done.failed)
                    progress.note(f"error: {source.path}: {done.failed}; its part is not written")
                    progress.file_done(source.size)
                    continue
                counts = Counts.from_dict(done.counts)
                progress.advance(counts.documents, counts.characters, 0)
                state.record(source, done.file, counts, done.errors_file)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    state.outcome.wall_s = time.monotonic() - began
    return state.outcome
