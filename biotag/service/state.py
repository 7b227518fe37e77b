"""What the running app holds: settings, metrics, loaded bundles, batchers, readiness."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from biotag.service.batcher import Batcher
from biotag.service.config import Settings
from biotag.service.metrics import Metrics
from biotag.service.registry import Registry
from biotag.service.tagging import Tagger


@dataclass
class ServiceState:
    settings: Settings
    metrics: Metrics
    registry: Registry = field(default_factory=Registry)
    batchers: dict[str, Batcher] = field(default_factory=dict)
    tagger: Tagger | None = None
    ready: bool = False
    startup_error: str | None = None

    def not_ready_reasons(self) -> dict[str, str]:
        reasons = dict(self.registry.errors)
        if self.startup_error:
            reasons["startup"] = self.startup_error
        if not self.ready and not reasons:
            reasons["startup"] = "models are still loading"
        return reasons


def get_state(request: Request) -> ServiceState:
    return request.app.state.biotag


StateDep = Annotated[ServiceState, Depends(get_state)]
