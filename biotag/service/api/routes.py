"""HTTP routes: validate, hand over to the tagger, format. No batching, no decoding here."""

from __future__ import annotations

import asyncio
import collections
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from biotag.service.batcher import BatcherStoppedError, QueueFullError, TooManySequencesError
from biotag.service.errors import ApiError, ErrorCode
from biotag.service.formats import (
    MEDIA_TYPES,
    OutputFormat,
    TaggedDocument,
    pubtator_id_problem,
    render,
)
from biotag.service.schemas import Document, ErrorResponse, TagRequest, TagResponse
from biotag.service.state import ServiceState, StateDep
from biotag.service.tagging import Tagged, Tagger, UnknownModelError

router = APIRouter()
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (404, 413, 422, 503)
}
_TAG_RESPONSES: dict[int | str, dict[str, Any]] = _ERRORS | {
    200: {
        "description": "The tagged documents, in the format asked for.",
        "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/xml": {"schema": {"type": "string"}},
        },
    }
}


def _json(payload: object, status_code: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status_code, media_type="application/json")


def _refusal(
    state: ServiceState,
    code: ErrorCode,
    message: str,
    retry: bool = False,
    details: list[dict[str, object]] | None = None,
) -> ApiError:
    """The error to raise for a refused request, counted by its code."""
    state.metrics.rejections.labels(code.value).inc()
    retry_after_s = state.settings.retry_after_s if retry else None
    return ApiError(code, message, details=details, retry_after_s=retry_after_s)


def _check_limits(state: ServiceState, documents: list[Document]) -> None:
    settings = state.settings
    if len(documents) > settings.max_documents:
        raise _refusal(
            state,
            ErrorCode.TOO_MANY_DOCUMENTS,
            f"{len(documents)} documents; at most {settings.max_documents} per request",
        )
    for index, document in enumerate(documents):
        if len(document.text) > settings.max_document_chars:
            raise _refusal(
                state,
                ErrorCode.DOCUMENT_TOO_LARGE,
                f"document {index} has {len(document.text)} characters; "
                f"at most {settings.max_document_chars}",
            )


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _tag_unless_disconnected(
    tagger: Tagger,
    state: ServiceState,
    request: Request,
    texts: list[str],
    models: list[str] | None,
) -> Tagged | None:
    work = asyncio.ensure_future(tagger.tag(texts, models))
    watcher = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({work, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not work.done():
        work.cancel()  # its queued windows are dropped before they run
        return None
    try:
        return work.result()
    except UnknownModelError as exc:
        raise _refusal(state, ErrorCode.UNKNOWN_MODEL, str(exc)) from exc
    except TooManySequencesError as exc:
        raise _refusal(
            state,
            ErrorCode.REQUEST_TOO_LARGE,
            f"the documents need more windows than one queue holds "
            f"({state.settings.max_queue_windows}); send fewer or shorter documents",
        ) from exc
    except BatcherStoppedError as exc:
        raise _refusal(
            state, ErrorCode.NOT_READY, "the inference engine stopped", retry=True
        ) from exc
    except QueueFullError as exc:
        raise _refusal(
            state, ErrorCode.QUEUE_FULL, "the service is at capacity; retry shortly", retry=True
        ) from exc


def _check_pubtator_ids(state: ServiceState, ids: list[str]) -> None:
    problems: list[dict[str, object]] = [
        {"loc": ["body", "documents", str(index), "id"], "msg": problem}
        for index, document_id in enumerate(ids)
        if (problem := pubtator_id_problem(document_id)) is not None
    ]
    if problems:
        raise _refusal(
            state,
            ErrorCode.VALIDATION_ERROR,
            f"{len(problems)} document id(s) cannot be written as PubTator",
            details=problems,
        )


@router.post("/tag", response_model=TagResponse, responses=_TAG_RESPONSES)
async def tag(
    body: TagRequest,
    request: Request,
    state: StateDep,
    output: Annotated[
        OutputFormat,
        Query(
            alias="format",
            description="json (default; the schema below), pubtator (title = first line, "
            "abstract = the rest; offsets index title + ' ' + abstract), biocxml or biocjson "
            "(one passage per document at offset 0). Offsets are code points in all four.",
        ),
    ] = OutputFormat.JSON,
) -> Response:
    """Tag documents with the requested models (all served models by default)."""
    documents = body.resolved_documents()
    _check_limits(state, documents)
    ids = [
        document.id if document.id is not None else str(index)
        for index, document in enumerate(documents)
    ]
    if output is OutputFormat.PUBTATOR:
        _check_pubtator_ids(state, ids)
    if state.runtime is None or not state.registry.models:
        raise _refusal(state, ErrorCode.NOT_READY, "no model is loaded", retry=True)
    texts = [document.text for document in documents]
    tagged = await _tag_unless_disconnected(
        state.runtime.tagger, state, request, texts, body.models
    )
    if tagged is None:
        return Response(status_code=499)  # nobody is listening; uvicorn drops it
    entity_counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for entities in tagged.documents:
        entity_counts.update((e.model, e.type) for e in entities)
    state.metrics.documents.inc(len(documents))
    for (model, entity_type), count in entity_counts.items():
        state.metrics.entities.labels(model, entity_type).inc(count)
    answer = [
        TaggedDocument(document_id, text, entities)
        for document_id, text, entities in zip(ids, texts, tagged.documents, strict=True)
    ]
    today = datetime.now(UTC).date()
    return Response(render(output, answer, tagged.models, today), media_type=MEDIA_TYPES[output])


@router.get("/models")
async def list_models(state: StateDep) -> Response:
    """Served models: one per head of each loaded bundle."""
    models = []
    for name, bundle in sorted(state.registry.models.items()):
        head = bundle.heads[name].head
        models.append(
            {
                "name": name,
                "bundle": bundle.name,
                "entity_types": head.entity_types,
                "labels": head.labels,
                "scheme": head.scheme.value,
                "precision": bundle.precision,
                "provider": bundle.provider,
                "max_length": bundle.manifest.max_length,
                "window_tokens": bundle.window_tokens,
                "window_target_tokens": bundle.window_target_tokens,
                "architecture": bundle.manifest.architecture,
                "evaluation": bundle.manifest.evaluation.get(name, {}),
            }
        )
    return _json({"models": models, "errors": state.registry.errors})


@router.get("/healthz")
async def healthz() -> Response:
    """Alive: the process answers."""
    return _json({"status": "ok"})


@router.get("/readyz", responses={503: {"model": ErrorResponse}})
async def readyz(state: StateDep) -> Response:
    """Ready: every bundle loaded and warmed up."""
    if state.ready:
        return _json({"status": "ready", "models": sorted(state.registry.models)})
    reasons = state.not_ready_reasons()
    raise ApiError(
        ErrorCode.NOT_READY,
        "; ".join(f"{where}: {why}" for where, why in reasons.items()),
        details=[{"where": where, "why": why} for where, why in reasons.items()],
        retry_after_s=state.settings.retry_after_s,
    )


@router.get("/metrics")
async def metrics(state: StateDep) -> Response:
    """Prometheus text format."""
    return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
