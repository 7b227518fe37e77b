"""The FastAPI application: lifespan (load, warm up, drain) and wiring. Routes live in routes.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from biotag import __version__
from biotag.service.batcher import Batcher, BatchLimits
from biotag.service.config import Settings
from biotag.service.errors import install_error_handlers
from biotag.service.metrics import Metrics
from biotag.service.middleware import BodyLimitMiddleware, RequestMetricsMiddleware
from biotag.service.registry import LoadedBundle, load_registry
from biotag.service.routes import router
from biotag.service.state import ServiceState
from biotag.service.tagging import Tagger

logger = logging.getLogger(__name__)


def _warm_up(bundle: LoadedBundle, settings: Settings) -> None:
    rows = max(1, min(settings.max_batch_size, settings.max_batch_tokens // bundle.window_tokens))
    bundle.engine.warm_up(rows, bundle.window_tokens)


async def _start(state: ServiceState) -> None:
    settings = state.settings
    state.registry = await asyncio.to_thread(load_registry, settings)
    limits = BatchLimits(
        max_batch_tokens=settings.max_batch_tokens,
        max_batch_size=settings.max_batch_size,
        max_wait_s=settings.max_wait_ms / 1000.0,
        max_queue=settings.max_queue_windows,
    )
    for name, bundle in list(state.registry.bundles.items()):
        try:
            await asyncio.to_thread(_warm_up, bundle, settings)
        except Exception as exc:  # a bundle that cannot run is reported, not served
            state.registry.errors[bundle.directory.name] = f"warm-up failed: {exc}"
            del state.registry.bundles[name]
            for model in bundle.heads:
                state.registry.models.pop(model, None)
            continue
        batcher = Batcher(bundle.engine.run, limits, state.metrics.batch_observer(name))
        batcher.start()
        state.batchers[name] = batcher
        for model in bundle.heads:
            state.metrics.model_info.labels(
                model, name, bundle.precision, bundle.engine.provider
            ).set(1)
    state.tagger = Tagger(state.registry, state.batchers)
    state.ready = bool(state.registry.bundles) and not state.registry.errors
    state.metrics.ready.set(1 if state.ready else 0)
    logger.info(
        "serving models %s; not served: %s",
        sorted(state.registry.models),
        state.registry.errors or "none",
    )


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServiceState = app.state.biotag
    await _start(state)
    try:
        yield
    finally:
        state.ready = False
        state.metrics.ready.set(0)
        for batcher in state.batchers.values():
            await batcher.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    metrics = Metrics()
    app = FastAPI(
        title="biotag",
        version=__version__,
        summary="Biomedical entity tagging (diseases, chemicals, genes, species) with "
        "character-exact spans.",
        lifespan=_lifespan,
    )
    app.state.biotag = ServiceState(settings=settings, metrics=metrics)
    install_error_handlers(app)
    app.include_router(router)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes, metrics=metrics)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    return app
