"""The FastAPI application: lifespan (load, warm up, drain) and wiring. Routes live in routes.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from biotag import __version__
from biotag.service.config import Settings
from biotag.service.errors import install_error_handlers
from biotag.service.metrics import Metrics
from biotag.service.middleware import BodyLimitMiddleware, RequestMetricsMiddleware
from biotag.service.routes import router
from biotag.service.runtime import start_runtime, stop_runtime
from biotag.service.state import ServiceState


async def _start(state: ServiceState) -> None:
    state.runtime = await start_runtime(state.settings, state.metrics)
    state.metrics.ready.set(1 if state.ready else 0)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServiceState = app.state.biotag
    await _start(state)
    try:
        yield
    finally:
        state.stopping = True
        state.metrics.ready.set(0)
        if state.runtime is not None:
            await stop_runtime(state.runtime)
        state.metrics.process_exited()


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
