"""Bundles loaded, warmed up and batched: the tagging machinery without HTTP.

The app's lifespan runs it; `biotag eval` and benchmarks use it in process. A server worker
of a multi-process server builds its runtime in ``multiprocess.worker_runtime`` instead, on a
connection to the shared engine process, which runs the windows of every worker.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from typing import Protocol

from biotag.service.config import Settings
from biotag.service.inference.batcher import Batcher, BatchLimits
from biotag.service.inference.registry import LoadedBundle, Registry, load_registry
from biotag.service.inference.session import OnnxSession
from biotag.service.inference.tagging import Tagger
from biotag.service.metrics import Metrics

logger = logging.getLogger(__name__)
SEQUENTIAL_BATCH_SIZE = 4  # windows per batch where a session runs them one at a time


class EngineConnection(Protocol):
    """What a runtime needs of a shared engine process that runs its windows."""

    @property
    def connected(self) -> bool: ...

    async def close(self) -> None: ...


@dataclass
class Runtime:
    registry: Registry
    batchers: dict[str, Batcher]  # in process; empty when a shared engine runs the windows
    tagger: Tagger
    engine: EngineConnection | None = None  # the shared engine process, in a server worker

    @property
    def engine_lost(self) -> bool:
        return self.engine is not None and not self.engine.connected

    @property
    def ready(self) -> bool:
        return not self.engine_lost and bool(self.registry.bundles) and not self.registry.errors


def _warm_up(bundle: LoadedBundle, session: OnnxSession, settings: Settings) -> None:
    rows = max(1, min(settings.max_batch_size, settings.max_batch_tokens // bundle.window_tokens))
    began = time.perf_counter()
    shapes = session.warm_up(rows, bundle.window_tokens)
    logger.info(
        "%s: warmed up on %d batch shape(s) in %.1f s",
        bundle.name,
        shapes,
        time.perf_counter() - began,
    )


def _limits_for(session: OnnxSession, limits: BatchLimits) -> BatchLimits:
    """A session that runs a batch's sequences one after another gains nothing from long
    batches, while every window of a batch waits for all of it: there short batches keep a
    small request behind a long document a few windows' time, not a whole batch's."""
    if not session.one_at_a_time:
        return limits
    return dataclasses.replace(
        limits, max_batch_size=min(limits.max_batch_size, SEQUENTIAL_BATCH_SIZE)
    )


async def start_runtime(settings: Settings, metrics: Metrics) -> Runtime:
    """Load every bundle, warm each up at its largest batch shape, start its batcher."""
    registry = await asyncio.to_thread(load_registry, settings)
    limits = BatchLimits(
        max_batch_tokens=settings.max_batch_tokens,
        max_batch_size=settings.max_batch_size,
        max_wait_s=settings.max_wait_ms / 1000.0,
        max_queue=settings.max_queue_windows,
    )
    batchers: dict[str, Batcher] = {}
    for name, bundle in list(registry.bundles.items()):
        session = registry.sessions[name]
        in_flight = settings.cuda_batches_in_flight if bundle.provider == "cuda" else 1
        batcher = Batcher(
            session.run,
            _limits_for(session, limits),
            metrics.batch_observer(name),
            session.computed_tokens,
            in_flight,
        )
        try:
            # in the threads that will run the batches: the CUDA provider keeps per-thread
            # state (a warm shape in one thread was cold in the other: p99 89 ms at 1 client)
            await batcher.in_every_thread(partial(_warm_up, bundle, session, settings))
        except Exception as exc:  # a bundle that cannot run is reported, not served
            await batcher.stop()
            withdraw(registry, name, f"warm-up failed: {exc}")
            continue
        batcher.start()
        batchers[name] = batcher
        for model in bundle.heads:
            metrics.model_info.labels(model, name, bundle.precision, bundle.provider).set(1)
    logger.info(
        "serving models %s; not served: %s", sorted(registry.models), registry.errors or "none"
    )
    return Runtime(registry, batchers, Tagger(registry, batchers))


def withdraw(registry: Registry, name: str, reason: str | None) -> None:
    """Stop serving bundle ``name``; ``reason`` (when given) is reported under its folder."""
    bundle = registry.bundles.pop(name)
    registry.sessions.pop(name, None)
    for model in bundle.heads:
        registry.models.pop(model, None)
    if reason is not None:
        registry.errors[bundle.directory.name] = reason


async def stop_runtime(runtime: Runtime) -> None:
    for batcher in runtime.batchers.values():
        await batcher.stop()
    if runtime.engine is not None:
        await runtime.engine.close()


@asynccontextmanager
async def running(settings: Settings, metrics: Metrics | None = None) -> AsyncIterator[Runtime]:
    runtime = await start_runtime(settings, metrics or Metrics())
    try:
        yield runtime
    finally:
        await stop_runtime(runtime)
