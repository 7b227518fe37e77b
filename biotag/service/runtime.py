"""Bundles loaded, warmed up and batched: the tagging machinery without HTTP.

The app's lifespan runs it; `biotag eval` and benchmarks use it in process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from biotag.service.batcher import Batcher, BatchLimits
from biotag.service.config import Settings
from biotag.service.metrics import Metrics
from biotag.service.registry import LoadedBundle, Registry, load_registry
from biotag.service.tagging import Tagger

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    registry: Registry
    batchers: dict[str, Batcher]
    tagger: Tagger

    @property
    def ready(self) -> bool:
        return bool(self.registry.bundles) and not self.registry.errors


def _warm_up(bundle: LoadedBundle, settings: Settings) -> None:
    rows = max(1, min(settings.max_batch_size, settings.max_batch_tokens // bundle.window_tokens))
    began = time.perf_counter()
    shapes = bundle.engine.warm_up(rows, bundle.window_tokens)
    logger.info(
        "%s: warmed up on %d batch shape(s) in %.1f s",
        bundle.name,
        shapes,
        time.perf_counter() - began,
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
        try:
            await asyncio.to_thread(_warm_up, bundle, settings)
        except Exception as exc:  # a bundle that cannot run is reported, not served
            registry.errors[bundle.directory.name] = f"warm-up failed: {exc}"
            del registry.bundles[name]
            for model in bundle.heads:
                registry.models.pop(model, None)
            continue
        batcher = Batcher(
            bundle.engine.run,
            limits,
            metrics.batch_observer(name),
            computed_tokens=bundle.engine.computed_tokens,
        )
        batcher.start()
        batchers[name] = batcher
        for model in bundle.heads:
            metrics.model_info.labels(model, name, bundle.precision, bundle.engine.provider).set(1)
    logger.info(
        "serving models %s; not served: %s", sorted(registry.models), registry.errors or "none"
    )
    return Runtime(registry, batchers, Tagger(registry, batchers))


async def stop_runtime(runtime: Runtime) -> None:
    for batcher in runtime.batchers.values():
        await batcher.stop()


@asynccontextmanager
async def running(settings: Settings, metrics: Metrics | None = None) -> AsyncIterator[Runtime]:
    runtime = await start_runtime(settings, metrics or Metrics())
    try:
        yield runtime
    finally:
        await stop_runtime(runtime)
