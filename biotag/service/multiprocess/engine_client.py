"""A server worker's connection to the shared engine process: runs windows remotely.

One connection per worker carries every request; each request has an id, so answers may come
back in any order. A request whose caller stops waiting is withdrawn (CANCEL), so its windows
leave the engine's queue as they would leave a local batcher's.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from biotag.service.inference.batcher import BatcherStoppedError
from biotag.service.multiprocess.engine_protocol import (
    ProtocolError,
    Result,
    RunRequest,
    decode_hello,
    decode_result,
    encode_cancel,
    encode_run,
    frame,
    logits_or_raise,
    read_frame,
)

logger = logging.getLogger(__name__)


class EngineLostError(BatcherStoppedError):
    """The shared engine process is gone; nothing can run until the service restarts."""


class EngineUnavailableError(ConnectionError):
    """No shared engine answered on the socket in time."""


class EngineClient:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hello: dict[str, Any]
    ) -> None:
        self.hello = hello  # {"provider": ..., "bundles": [...], "errors": {...}}
        self._reader = reader
        self._writer = writer
        self._pending: dict[int, asyncio.Future[Result]] = {}
        self._ids = itertools.count()
        self.connected = True
        self._reading = asyncio.get_running_loop().create_task(self._read(), name="biotag-engine")

    @classmethod
    async def connect(cls, socket: Path, timeout_s: float) -> EngineClient:
        """Once: the supervisor starts workers only after the engine listens, so a refused
        connection means the engine is gone (retrying would only delay the server's exit)."""
        try:
            reader, writer = await asyncio.open_unix_connection(str(socket))
        except OSError as exc:
            raise EngineUnavailableError(f"no engine answers on {socket}: {exc}") from exc
        try:
            body = await asyncio.wait_for(read_frame(reader), timeout_s)
        except TimeoutError as exc:
            writer.close()
            raise EngineUnavailableError(f"the engine on {socket} sent no hello") from exc
        if body is None:
            writer.close()
            raise EngineUnavailableError(f"the engine on {socket} closed the connection")
        return cls(reader, writer, decode_hello(body))

    def runner(self, bundle: str) -> RemoteRunner:
        return RemoteRunner(self, bundle)

    async def run(self, bundle: str, sequences: list[np.ndarray]) -> list[np.ndarray]:
        if not self.connected:
            raise EngineLostError
        request_id = next(self._ids)
        answer: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = answer
        self._writer.write(frame(encode_run(RunRequest(request_id, bundle, sequences))))
        try:
            result = await answer
        except asyncio.CancelledError:
            if self.connected:
                self._writer.write(frame(encode_cancel(request_id)))
            raise
        finally:
            del self._pending[request_id]
        return logits_or_raise(result)

    async def close(self) -> None:
        self._reading.cancel()
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    async def _read(self) -> None:
        try:
            while (body := await read_frame(self._reader)) is not None:
                result = decode_result(body)
                answer = self._pending.get(result.request_id)
                if answer is not None and not answer.done():
                    answer.set_result(result)
            logger.error("the shared engine process closed its connection")
        except (ProtocolError, ConnectionError, asyncio.IncompleteReadError) as exc:
            logger.error("lost the shared engine process: %r", exc)
        finally:
            self.connected = False
            for answer in self._pending.values():
                if not answer.done():
                    answer.set_exception(EngineLostError())


class RemoteRunner:
    """One bundle's windows, run by the engine process (the tagger's view of a batcher)."""

    def __init__(self, client: EngineClient, bundle: str) -> None:
        self._client = client
        self._bundle = bundle

    async def run(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        return await self._client.run(self._bundle, sequences)
