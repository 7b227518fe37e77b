"""uvicorn's server as biotag runs it, in `biotag serve` and in each worker process.

Two changes to how uvicorn ends on SIGTERM or SIGINT:

- the app learns that the drain has begun, at once: /readyz turns 503 so that load balancers
  stop sending, and a request still running when ``shutdown_timeout_s`` has passed is answered
  503 ``not_ready`` in the envelope (uvicorn would cancel it a little later and answer a
  plain-text 500);
- the process exits 0 after a clean drain: uvicorn re-raises the signal it caught once it has
  shut down, so that the process dies of it (status 143), which supervisors and CI read as a
  crash.
"""

from __future__ import annotations

import asyncio
import math
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from biotag.service.api.http_protocol import protocol_with_header_timeout
from biotag.service.api.state import ServiceState
from biotag.service.config import Settings
from biotag.service.metrics import Metrics

# uvicorn cancels what still runs this long after the app's own drain deadline has answered it
_CANCEL_GRACE_S = 2


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ServiceState) -> None:
        super().__init__(config)
        self.state = state
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()  # a drained server ends normally, not by the signal
        if self._loop is not None:
            seconds = self.state.settings.shutdown_timeout_s
            self._loop.call_soon_threadsafe(self.state.begin_drain, seconds)


def uvicorn_options(settings: Settings, metrics: Metrics) -> dict[str, Any]:
    """What the settings ask of uvicorn, apart from where it listens."""
    protocol = protocol_with_header_timeout(settings.header_timeout_s, metrics.connection_answered)
    return {
        "log_level": settings.log_level,
        "timeout_graceful_shutdown": math.ceil(settings.shutdown_timeout_s) + _CANCEL_GRACE_S,
        "access_log": False,
        "http": protocol,
    }


def run_server(
    app: FastAPI, settings: Settings, sockets: list[socket.socket] | None = None
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT has drained it: on ``sockets`` when given (a
    worker's own), else on the settings' host and port."""
    listen: dict[str, Any] = {} if sockets else {"host": settings.host, "port": settings.port}
    state: ServiceState = app.state.biotag
    config = uvicorn.Config(app, **listen, **uvicorn_options(settings, state.metrics))
    server = DrainingServer(config, state)
    server.run(sockets=sockets)
    if not server.started:  # as uvicorn.run does: the app's startup failed
        sys.exit(STARTUP_FAILURE)
