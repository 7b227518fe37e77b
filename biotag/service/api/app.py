"""The FastAPI application: lifespan (load, warm up, drain) and wiring. Routes live in routes.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from biotag import __version__
from biotag.service.api.admission import AdmissionMiddleware
from biotag.service.api.auth import ApiKeyMiddleware
from biotag.service.api.body_guard import BodyGuardMiddleware
from biotag.service.api.docs_pages import OPENAPI_URL, docs_router
from biotag.service.api.errors import install_error_handlers
from biotag.service.api.middleware import RequestMetricsMiddleware
from biotag.service.api.page import page_router
from biotag.service.api.request_id import RequestIdMiddleware, install_logging
from biotag.service.api.routes import router
from biotag.service.api.state import ServiceState
from biotag.service.config import Settings
from biotag.service.inference.runtime import start_runtime, stop_runtime
from biotag.service.metrics import Metrics
from biotag.service.multiprocess.worker_runtime import connect_runtime

TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


async def _start(state: ServiceState, engine_socket: Path | None) -> None:
    if engine_socket is None:
        state.runtime = await start_runtime(state.settings, state.metrics)
    else:
        state.runtime = await connect_runtime(state.settings, engine_socket)
    state.metrics.ready.set(1 if state.ready else 0)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServiceState = app.state.biotag
    await _start(state, app.state.engine_socket)
    try:
        yield
    finally:
        state.stopping = True
        state.metrics.ready.set(0)
        if state.runtime is not None:
            await stop_runtime(state.runtime)
        state.metrics.process_exited()


def create_app(settings: Settings | None = None, engine_socket: Path | None = None) -> FastAPI:
    """The service app. ``engine_socket``: in a server worker, the shared engine process that
    runs its windows (the supervisor passes it); None: this process opens its own sessions."""
    settings = settings or Settings()
    install_logging(settings.log_level)
    metrics = Metrics()
    app = FastAPI(
        title="biotag",
        openapi_url=OPENAPI_URL,
        # docs_pages.py serves both pages without a CDN
        docs_url=None,
        redoc_url=None,
        version=__version__,
        summary="Biomedical entity tagging (diseases, chemicals, genes, species) with "
        "character-exact spans.",
        lifespan=_lifespan,
        telemetry=None if settings.opentelemetry else TELEMETRY_OFF,
    )
    state = ServiceState(settings=settings, metrics=metrics)
    app.state.biotag = state
    app.state.engine_socket = engine_socket
    install_error_handlers(app)
    app.include_router(router)
    app.include_router(docs_router(app.title))
    if settings.web_page:
        app.include_router(page_router())
    # the last added runs first: admission refuses before anything else runs (it ids, counts
    # and logs its refusals itself), the id layer gives every other answer its id, metrics
    # see every answer, the body guard refuses before FastAPI parses a body
    app.add_middleware(BodyGuardMiddleware, state=state)
    if settings.api_key:
        app.add_middleware(ApiKeyMiddleware, state=state)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware, state=state)
    app.add_middleware(AdmissionMiddleware, state=state)
    return app
