"""Documents -> predicted spans, through the service's own tokenisation, batching and decoding.

In process, a `Runtime` is started exactly as the app's lifespan starts it; with a URL, the
documents go to a running service's `POST /tag`. Either way, documents travel in chunks of at
most a request's worth, several chunks at once, so the batcher can fill whole batches.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from biotag.evaluation.datasets import GoldDocument, align_types
from biotag.evaluation.scoring import Score, Span, score
from biotag.served_models import ServedModelsError, served_models

CHUNK_DOCUMENTS = 64  # the service's default per-request limit (BIOTAG_MAX_DOCUMENTS)
CONCURRENT_CHUNKS = 8  # 512 documents in flight: full batches, far below the 4096-window queue
RETRY_SLEEP_S = 0.05
# A chunk refused this long in a row will not fit (e.g. more windows than the whole queue).
RETRY_LIMIT_S = 60.0
HTTP_TIMEOUT_S = 300.0

TagChunk = Callable[[list[str]], Awaitable[list[list[Span]]]]


_QUEUE_FULL = (
    f"the batch queue stayed full for {RETRY_LIMIT_S:.0f} s; raise BIOTAG_MAX_QUEUE_WINDOWS"
)


class EvaluationError(Exception):
    """The evaluation cannot run (unknown model, unreachable service...); one-line message."""


@dataclass(frozen=True)
class Evaluation:
    models: list[str]
    documents: int
    score: Score
    ignored_gold: dict[str, int]  # corpus type -> spans not scored (no evaluated model tags it)
    elapsed_s: float  # tagging only: loading and warming the models is not counted

    @property
    def documents_per_s(self) -> float:
        return self.documents / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "models": self.models,
            "documents": self.documents,
            "elapsed_s": round(self.elapsed_s, 3),
            "documents_per_s": round(self.documents_per_s, 2),
            "types": {name: counts.as_dict() for name, counts in self.score.per_type.items()},
            "micro": self.score.micro.as_dict(),
            "ignored_gold_types": self.ignored_gold,
        }


async def tag_all(
    texts: list[str], tag_chunk: TagChunk, chunk_size: int = CHUNK_DOCUMENTS
) -> list[list[Span]]:
    """Predicted spans per text, in order, with at most CONCURRENT_CHUNKS chunks in flight."""
    gate = asyncio.Semaphore(CONCURRENT_CHUNKS)

    async def one(start: int) -> list[list[Span]]:
        async with gate:
            return await tag_chunk(texts[start : start + chunk_size])

    chunks = await asyncio.gather(*(one(i) for i in range(0, len(texts), chunk_size)))
    return [spans for chunk in chunks for spans in chunk]


async def evaluate(
    documents: list[GoldDocument],
    models: list[str],
    model_types: dict[str, list[str]],
    type_map: dict[str, str],
    tag_chunk: TagChunk,
) -> Evaluation:
    """Score ``tag_chunk``'s predictions on ``documents`` for the types the models tag."""
    types = {entity_type for name in models for entity_type in model_types[name]}
    gold, ignored = align_types(documents, type_map, types)
    started = time.perf_counter()
    predicted = await tag_all([document.text for document in gold], tag_chunk)
    elapsed = time.perf_counter() - started
    return Evaluation(
        models=models,
        documents=len(gold),
        score=score((d.spans for d in gold), predicted, types),
        ignored_gold=dict(sorted(ignored.items())),
        elapsed_s=elapsed,
    )


@asynccontextmanager
async def in_process(
    models: list[str],
    models_dir: Path | None,
    intra_op_threads: int | None,
    cpu_precision: str | None = None,
) -> AsyncIterator[tuple[dict[str, list[str]], TagChunk]]:
    """The models' entity types and a chunk tagger on a runtime started here (``cpu_precision``:
    the graph to run on the CPU; default: from the settings)."""
    # lazy: the HTTP path needs neither onnxruntime nor the bundles
    from biotag.service.config import Settings
    from biotag.service.inference.batcher import QueueFullError
    from biotag.service.inference.runtime import running

    overrides: dict[str, Any] = {}
    if models_dir is not None:
        overrides["models_dir"] = models_dir
    if intra_op_threads is not None:
        overrides["intra_op_threads"] = intra_op_threads
    if cpu_precision is not None:
        overrides["cpu_precision"] = cpu_precision
    async with running(Settings(**overrides)) as runtime:
        registry = runtime.registry
        unknown = [name for name in models if name not in registry.models]
        if unknown:
            not_served = "; ".join(f"{k}: {v}" for k, v in registry.errors.items())
            raise EvaluationError(
                f"unknown model(s) {unknown}; served: {sorted(registry.models)}"
                + (f"; not served: {not_served}" if not_served else "")
            )
        model_types = {
            name: list(registry.models[name].heads[name].head.entity_types) for name in models
        }

        async def tag_chunk(texts: list[str]) -> list[list[Span]]:
            deadline = time.monotonic() + RETRY_LIMIT_S
            while True:
                try:
                    results = (await runtime.tagger.tag(texts, models)).documents
                except QueueFullError as exc:  # other chunks hold the queue: wait for room
                    if time.monotonic() > deadline:
                        raise EvaluationError(_QUEUE_FULL) from exc
                    await asyncio.sleep(RETRY_SLEEP_S)
                    continue
                return [[Span(e.start, e.end, e.type) for e in entities] for entities in results]

        yield model_types, tag_chunk


def _error_message(response: Any) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return str(response.text)[:200]


@asynccontextmanager
async def over_http(
    models: list[str], url: str
) -> AsyncIterator[tuple[dict[str, list[str]], TagChunk]]:
    """The models' entity types (GET /models) and a chunk tagger posting to a running service."""
    import httpx

    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=HTTP_TIMEOUT_S) as client:
        try:
            _, listing = await served_models(client, url, models)
        except ServedModelsError as exc:
            raise EvaluationError(str(exc)) from exc
        served = {name: list(model["entity_types"]) for name, model in listing.items()}

        async def tag_chunk(texts: list[str]) -> list[list[Span]]:
            body = {"documents": [{"text": text} for text in texts], "models": models}
            deadline = time.monotonic() + RETRY_LIMIT_S
            while True:
                try:
                    response = await client.post("/tag", json=body)
                except httpx.HTTPError as exc:
                    raise EvaluationError(f"POST {url}/tag: {exc}") from exc
                # 503 = queue full or still warming up: the service says when to come back
                if response.status_code == 503 and time.monotonic() < deadline:
                    await asyncio.sleep(float(response.headers.get("retry-after", 1)))
                    continue
                if response.status_code != 200:
                    raise EvaluationError(
                        f"POST {url}/tag: {response.status_code} {_error_message(response)}"
                    )
                return [
                    [Span(e["start"], e["end"], e["type"]) for e in document["entities"]]
                    for document in response.json()["documents"]
                ]

        yield {name: served[name] for name in models}, tag_chunk
