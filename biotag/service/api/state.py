"""What the running app holds: settings, metrics, the loaded runtime, readiness."""

from __future__ import annotations

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
    _nothing_loaded: Registry = field(default_factory=Registry, repr=False)

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
