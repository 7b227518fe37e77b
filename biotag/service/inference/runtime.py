"""Bundles loaded, warmed up and batched: the tagging machinery without HTTP.

The app's lifespan runs it; `biotag eval` and benchmarks use it in process. A server worker
of a multi-process server instead connects to the shared engine process (``engine_socket``),
which runs the windows of every worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from biotag.service.batcher import Batcher, BatchLimits
from biotag.service.config import Settings
from biotag.service.engine import Engine
from biotag.service.engine_client import EngineClient
from biotag.service.metrics import Metrics
from biotag.service.registry import LoadedBundle, Registry, load_registry
from biotag.service.tagging import Tagger

logger = logging.getLogger(__name__)
_HELLO_TIMEOUT_S = 30.0


@dataclass
class Runtime:
    registry: Registry
    batchers: dict[str, Batcher]  # in process; empty when a shared engine runs the windows
    tagger: Tagger
    engine_client: EngineClient | None = None

    @property
    def ready(self) -> bool:
        engine_alive = self.engine_client is None or self.engine_client.connected
        return engine_alive and bool(self.registry.bundles) and not self.registry.errors


def _warm_up(bundle: LoadedBundle, engine: Engine, settings: Settings) -> None:
    rows = max(1, min(settings.max_batch_size, settings.max_batch_tokens // bundle.window_tokens))
    began = time.perf_counter()
    shapes = engine.warm_up(rows, bundle.window_tokens)
    logger.info(
        "%s: warmed up on %d batch shape(s) in %.1f s",
        bundle.name,
        shapes,
        time.perf_counter() - began,
    )


async def start_runtime(settings: Settings, metrics: Metrics) -> Runtime:
    """Load every bundle, warm each up at its largest batch shape, start its batcher; or, with
    ``engine_socket``, load the bundles' tokenizers and heads and connect to the engine."""
    if settings.engine_socket is not None:
        return await _connect_runtime(settings, settings.engine_socket)
    registry = await asyncio.to_thread(load_registry, settings)
    limits = BatchLimits(
        max_batch_tokens=settings.max_batch_tokens,
        max_batch_size=settings.max_batch_size,
        max_wait_s=settings.max_wait_ms / 1000.0,
        max_queue=settings.max_queue_windows,
    )
    batchers: dict[str, Batcher] = {}
    for name, bundle in list(registry.bundles.items()):
        engine = registry.engines[name]
        in_flight = settings.cuda_batches_in_flight if bundle.provider == "cuda" else 1
        batcher = Batcher(
            engine.run, limits, metrics.batch_observer(name), engine.computed_tokens, in_flight
        )
        try:
            # in the threads that will run the batches: the CUDA provider keeps per-thread
            # state (a warm shape in one thread was cold in the other: p99 89 ms at 1 client)
            await batcher.in_every_thread(partial(_warm_up, bundle, engine, settings))
        except Exception as exc:  # a bundle that cannot run is reported, not served
            await batcher.stop()
            _withdraw(registry, name, f"warm-up failed: {exc}")
            continue
        batcher.start()
        batchers[name] = batcher
        for model in bundle.heads:
            metrics.model_info.labels(model, name, bundle.precision, bundle.provider).set(1)
    logger.info(
        "serving models %s; not served: %s", sorted(registry.models), registry.errors or "none"
    )
    return Runtime(registry, batchers, Tagger(registry, batchers))


async def _connect_runtime(settings: Settings, socket: Path) -> Runtime:
    client = await EngineClient.connect(socket, _HELLO_TIMEOUT_S)
    provider = client.hello["provider"]
    if provider is None:  # the engine serves nothing; its errors say why
        registry = Registry()
    else:
        registry = await asyncio.to_thread(load_registry, settings, provider, False)
    for name in set(registry.bundles) - set(client.hello["bundles"]):
        _withdraw(registry, name, None)
    registry.errors.update(client.hello["errors"])
    runners = {name: client.runner(name) for name in registry.bundles}
    return Runtime(registry, {}, Tagger(registry, runners), client)


def _withdraw(registry: Registry, name: str, reason: str | None) -> None:
    bundle = registry.bundles.pop(name)
    registry.engines.pop(name, None)
    for model in bundle.heads:
        registry.models.pop(model, None)
    if reason is not None:
        registry.errors[bundle.directory.name] = reason


async def stop_runtime(runtime: Runtime) -> None:
    for batcher in runtime.batchers.values():
        await batcher.stop()
    if runtime.engine_client is not None:
        await runtime.engine_client.close()


@asynccontextmanager
async def running(settings: Settings, metrics: Metrics | None = None) -> AsyncIterator[Runtime]:
    runtime = await start_runtime(settings, metrics or Metrics())
    try:
        yield runtime
    finally:
        await stop_runtime(runtime)
