"""Texts -> entities: the service's runtime started in this process, or a running service over
HTTP. Same tokenising, windows, batching and decoding either way, so the same entities.

An engine tags one chunk of texts at a time (at most a request's worth); the pipeline keeps
several chunks in flight so batches fill. `DocumentError`: this chunk failed (the pipeline
retries its documents one by one); `EngineError`: the engine itself is gone (the run stops).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from biotag.served_models import ServedModelsError, served_models
from biotag.service.text.entities import Entity

if TYPE_CHECKING:  # the HTTP engine needs neither onnxruntime nor the bundles
    from biotag.service.inference.registry import Registry
    from biotag.service.inference.runtime import Runtime
    from biotag.service.inference.session import Provider
    from biotag.service.metrics import Metrics

RETRY_SLEEP_S = 0.05
RETRY_LIMIT_S = 300.0  # a chunk refused this long in a row (queue full, 503) fails
HTTP_TIMEOUT_S = 300.0


class EngineError(Exception):
    """The engine cannot tag at all (no such model, service unreachable); one-line message."""


class EngineStartError(EngineError):
    """The engine could not start as asked (unknown model, no models, unreachable service)."""


class DocumentError(Exception):
    """These documents could not be tagged (too long, refused); the others go on."""


class Engine(Protocol):
    @property
    def models(self) -> list[str]: ...

    @property
    def identity(self) -> dict[str, dict[str, Any]]: ...

    async def tag(self, texts: list[str]) -> list[list[Entity]]: ...

    def tokens(self) -> int | None:
        """Tokens run so far (for tokens/s), where the engine knows."""
        ...


@dataclass
class _LocalEngine:
    models: list[str]
    identity: dict[str, dict[str, Any]]
    runtime: Runtime
    metrics: Metrics

    def tokens(self) -> int | None:
        return int(
            sum(
                sample.value
                for metric in self.metrics.tokens.collect()
                for sample in metric.samples
                if sample.name.endswith("_total")
            )
        )

    async def tag(self, texts: list[str]) -> list[list[Entity]]:
        from biotag.service.inference.batcher import QueueFullError

        deadline = time.monotonic() + RETRY_LIMIT_S
        while True:
            try:
                return (await self.runtime.tagger.tag(texts, self.models)).documents
            except QueueFullError as exc:  # other chunks hold the queue: wait for room
                if time.monotonic() > deadline:
                    raise DocumentError(f"the batch queue stayed full: {exc}") from exc
                await asyncio.sleep(RETRY_SLEEP_S)
            except Exception as exc:  # e.g. more windows than the queue holds
                raise DocumentError(f"{type(exc).__name__}: {exc}") from exc


@asynccontextmanager
async def in_process(
    models: list[str] | None,
    models_dir: Path | None = None,
    intra_op_threads: int | None = None,
) -> AsyncIterator[Engine]:
    """The service's runtime (settings from BIOTAG_* as for `biotag serve`), started here."""
    from biotag.service.config import Settings
    from biotag.service.inference.runtime import running
    from biotag.service.inference.tagging import UnknownModelError
    from biotag.service.metrics import Metrics

    metrics = Metrics()  # its token counter gives the progress bar's tokens/s
    overrides: dict[str, Any] = {}
    if models_dir is not None:
        overrides["models_dir"] = models_dir
    if intra_op_threads is not None:
        overrides["intra_op_threads"] = intra_op_threads
    async with running(Settings(**overrides), metrics) as runtime:
        registry = runtime.registry
        try:
            plan = runtime.tagger.resolve(models)
        except UnknownModelError as exc:
            not_served = "; ".join(f"{k}: {v}" for k, v in registry.errors.items())
            raise EngineStartError(
                str(exc) + (f"; not served: {not_served}" if not_served else "")
            ) from exc
        if not plan:
            raise EngineStartError(f"no models to run; not served: {registry.errors or 'none'}")
        names = [name for group in plan.values() for name in group]
        identity = model_identity(registry, names)
        yield _LocalEngine(names, identity, runtime, metrics)


def model_identity(registry: Registry, names: list[str]) -> dict[str, dict[str, Any]]:
    """What the manifest records of each model: bundle, precision, provider, decoding, hashes
    (a resumed run that would tag differently is refused, not mixed)."""
    identity = {}
    for name in names:
        bundle = registry.models[name]
        identity[name] = {
            "bundle": bundle.name,
            "precision": bundle.precision,
            "provider": bundle.provider,
            "decoding": bundle.decoding,
            "graph_sha256": bundle.manifest.graphs[bundle.precision].sha256,
            "checkpoint_sha256": bundle.manifest.source_checkpoint_sha256,
        }
    return identity


def describe_models(
    models: list[str] | None, models_dir: Path | None, provider: Provider | None = None
) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """The models a run will use (in the order it answers) and their identity, from the
    bundles' manifests, without opening a session (``provider``: default from the settings)."""
    from biotag.service.config import Settings
    from biotag.service.inference.registry import load_registry
    from biotag.service.inference.tagging import Tagger, UnknownModelError

    overrides: dict[str, Any] = {"models_dir": models_dir} if models_dir else {}
    registry = load_registry(Settings(**overrides), provider=provider, open_sessions=False)
    try:
        plan = Tagger(registry, {}).resolve(models)
    except UnknownModelError as exc:
        raise EngineStartError(str(exc)) from exc
    if not plan:
        raise EngineStartError(f"no models to run; not served: {registry.errors or 'none'}")
    names = [name for group in plan.values() for name in group]
    return names, model_identity(registry, names)


def _error_message(response: Any) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return str(response.text[:200])


@dataclass
class _HttpEngine:
    models: list[str]
    identity: dict[str, dict[str, Any]]
    client: Any  # httpx.AsyncClient
    url: str

    def tokens(self) -> int | None:
        return None  # the service counts every client's tokens, not this run's

    async def tag(self, texts: list[str]) -> list[list[Entity]]:
        import httpx

        body = {"documents": [{"text": text} for text in texts], "models": self.models}
        deadline = time.monotonic() + RETRY_LIMIT_S
        while True:
            try:
                response = await self.client.post("/tag", json=body)
            except httpx.HTTPError as exc:
                raise EngineError(f"POST {self.url}/tag: {type(exc).__name__}: {exc}") from exc
            # 503: queue full or warming up; 429: over a rate limit. The service says when.
            if response.status_code in (429, 503) and time.monotonic() < deadline:
                await asyncio.sleep(float(response.headers.get("retry-after", 1)))
                continue
            if response.status_code != 200:
                raise DocumentError(f"HTTP {response.status_code}: {_error_message(response)}")
            return [
                [Entity(**entity) for entity in document["entities"]]
                for document in response.json()["documents"]
            ]


@asynccontextmanager
async def over_http(models: list[str] | None, url: str) -> AsyncIterator[Engine]:
    """A running `biotag serve` at ``url``: its models from GET /models, texts to POST /tag."""
    import httpx

    base = url.rstrip("/")
    async with httpx.AsyncClient(base_url=base, timeout=HTTP_TIMEOUT_S) as client:
        try:
            names, served = await served_models(client, url, models)
        except ServedModelsError as exc:
            raise EngineStartError(str(exc)) from exc
        if not names:
            raise EngineStartError(f"{base} serves no models")
        # the order the service answers in: grouped by bundle, as in process
        by_bundle: dict[str, list[str]] = {}
        for name in names:
            by_bundle.setdefault(served[name]["bundle"], []).append(name)
        ordered = [name for group in by_bundle.values() for name in group]
        identity = {
            name: {key: served[name][key] for key in ("bundle", "precision", "provider")}
            for name in ordered
        }
        yield _HttpEngine(ordered, identity, client, base)
