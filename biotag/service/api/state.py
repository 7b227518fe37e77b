"""What the running app holds: settings, metrics, the loaded runtime, readiness."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from biotag.service.config import Settings
from biotag.service.inference.registry import Registry
from biotag.service.inference.runtime import Runtime
from biotag.service.metrics import Metrics


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    runtime: Runtime | None = None  # set once the lifespan has loaded the bundles
    stopping: bool = False
    # set once a drain has run its course: requests still running are answered 503
    drain_expired: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _nothing_loaded: Registry = field(default_factory=Registry, repr=False)

    def begin_drain(self, seconds: float) -> None:
        """SIGTERM arrived (in this event loop's thread): not ready from now on, and requests
        still running after ``seconds`` are answered, not left to be cancelled."""
        self.stopping = True
        self.metrics.ready.set(0)
        asyncio.get_running_loop().call_later(seconds, self.drain_expired.set)

    @property
    def ready(self) -> bool:
        return not self.stopping and self.runtime is not None and self.runtime.ready

    @property
    def registry(self) -> Registry:
        """What is loaded; an empty registry of this state's own until the lifespan loads."""
        if self.runtime is not None:
            return self.runtime.registry
        return self._nothing_loaded

    def not_ready_reasons(self) -> dict[str, str]:
        """Each cause of not being ready under its own key: ``shutdown``, ``startup`` (still
        loading), ``engine`` (the shared engine process is gone), then each bundle folder that
        is not served."""
        reasons: dict[str, str] = {}
        if self.stopping:
            reasons["shutdown"] = "the service is shutting down"
        if self.runtime is None:
            if not self.stopping:
                reasons["startup"] = "models are still loading"
            return reasons
        if self.runtime.engine_lost:
            reasons["engine"] = "the shared engine process is gone; the server restarts"
        reasons.update(self.runtime.registry.errors)
        if not reasons and not self.runtime.registry.bundles:
            reasons["models"] = "no model is served"
        return reasons


def state_of(request: Request) -> ServiceState:
    """The state ``create_app`` put on the app (Starlette types app.state as Any)."""
    state: ServiceState = request.app.state.biotag
    return state


async def get_state(request: Request) -> ServiceState:
    return state_of(request)


StateDep = Annotated[ServiceState, Depends(get_state)]
