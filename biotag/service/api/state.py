"""What the running app holds: settings, metrics, the loaded runtime, readiness."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from biotag.service.config import Settings
from biotag.service.metrics import Metrics
from biotag.service.registry import Registry
from biotag.service.runtime import Runtime

_NOTHING_LOADED = Registry()


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    runtime: Runtime | None = None  # set once the lifespan has loaded the bundles
    stopping: bool = False

    @property
    def ready(self) -> bool:
        return not self.stopping and self.runtime is not None and self.runtime.ready

    @property
    def registry(self) -> Registry:
        return self.runtime.registry if self.runtime else _NOTHING_LOADED

    def not_ready_reasons(self) -> dict[str, str]:
        reasons = dict(self.registry.errors)
        if not self.ready and not reasons:
            reasons["startup"] = "models are still loading"
        return reasons


async def get_state(request: Request) -> ServiceState:
    return request.app.state.biotag


StateDep = Annotated[ServiceState, Depends(get_state)]
