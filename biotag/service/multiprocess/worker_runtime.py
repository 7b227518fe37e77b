"""A server worker's runtime: the bundles' tokenizers and heads here, their windows run by the
shared engine process over its socket (no ONNX Runtime session in the worker)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from biotag.service.config import Settings
from biotag.service.inference.registry import Registry, load_registry
from biotag.service.inference.runtime import Runtime, withdraw
from biotag.service.inference.tagging import Tagger
from biotag.service.multiprocess.engine_client import EngineClient

_HELLO_TIMEOUT_S = 30.0


async def connect_runtime(settings: Settings, engine_socket: Path) -> Runtime:
    """Connect to the engine, then load what it serves (its hello says which bundles, on which
    provider, and why others are not served)."""
    client = await EngineClient.connect(engine_socket, _HELLO_TIMEOUT_S)
    provider = client.hello["provider"]
    if provider is None:  # the engine serves nothing; its errors say why
        registry = Registry()
    else:
        registry = await asyncio.to_thread(load_registry, settings, provider, False)
    for name in set(registry.bundles) - set(client.hello["bundles"]):
        withdraw(registry, name, None)
    registry.errors.update(client.hello["errors"])
    runners = {name: client.runner(name) for name in registry.bundles}
    return Runtime(registry, {}, Tagger(registry, runners), client)
