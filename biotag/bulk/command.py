"""`biotag tag` behind the command line: inputs checked, the engine started, the run, the
summary. Returns the exit code: 0 all tagged, 1 something failed (documents or files; see the
errors files), 2 bad input or a refused resume (nothing tagged), 130 interrupted."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from biotag.bulk.engines import Engine, EngineError, EngineStartError, in_process, over_http
from biotag.bulk.inputs import InputError, expand
from biotag.bulk.manifest import ManifestError
from biotag.bulk.pipeline import Options, Outcome, run
from biotag.bulk.progress import Progress, summary_lines
from biotag.bulk.readers import InputFormat

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # as a shell reports SIGINT


@dataclass(frozen=True)
class EngineChoice:
    models: list[str] | None
    models_dir: Path | None = None
    url: str | None = None
    threads: int | None = None
    ray: str | None = None  # "local", "auto", or a cluster address
    ray_actors: int | None = None
    workers: int = 1  # in process: processes tagging files at once

    def open(self) -> AbstractAsyncContextManager[Engine]:
        if self.url:
            return over_http(self.models, self.url)
        return in_process(self.models, self.models_dir, self.threads)


def tag_command(
    inputs: list[str],
    options: Options,
    engine: EngineChoice,
    input_format: InputFormat | None,
    quiet: bool,
) -> int:
    console = Console(stderr=True)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: [%(name)s] %(message)s")
    try:
        files = expand(inputs, input_format)
    except InputError as exc:
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        return EXIT_BAD_INPUT
    if engine.ray is not None:
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            message = f"error: --ray needs the ray extra (pip install 'biotag[ray]'): {exc}"
            console.print(message, markup=False, soft_wrap=True)
            return EXIT_BAD_INPUT
    progress = Progress(len(files), sum(f.size for f in files), quiet)

    async def go() -> Outcome:
        async with engine.open() as opened:
            return await run(opened, files, options, progress)

    try:
        if engine.ray is not None:
            from biotag.bulk.ray_backend import run_on_ray

            address = None if engine.ray == "local" else engine.ray
            outcome = run_on_ray(
                address,
                files,
                options,
                progress,
                engine.models,
                engine.models_dir,
                engine.ray_actors,
            )
        elif engine.workers > 1 and engine.url is None:
            from biotag.bulk.workers import run_workers

            outcome = run_workers(
                engine.workers,
                files,
                options,
                progress,
                engine.models,
                engine.models_dir,
                engine.threads,
            )
        else:
            outcome = asyncio.run(go())
    except (EngineError, ManifestError) as exc:
        progress.close()
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        bad_input = isinstance(exc, ManifestError | EngineStartError)
        return EXIT_BAD_INPUT if bad_input else EXIT_FAILED
    except OSError as exc:  # the output folder cannot be written (a file, no permission...)
        progress.close()
        console.print(f"error: {exc}", markup=False, soft_wrap=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        progress.close()
        console.print("interrupted: finished parts are kept; rerun with --resume to go on")
        return EXIT_INTERRUPTED
    finally:
        progress.close()
    if not quiet:
        for line in summary_lines(
            outcome.counts, outcome.resumed, len(outcome.failed_files), outcome.wall_s
        ):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    for path, why in outcome.failed_files.items():
        console.print(f"error: {path}: {why}", markup=False, soft_wrap=True)
    return EXIT_OK if outcome.ok else EXIT_FAILED
