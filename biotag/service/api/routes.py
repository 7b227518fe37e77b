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

from biotag.service.api.errors import ApiError, ErrorCode, error_response
from biotag.service.api.schemas import (
    BioCCollection,
    Document,
    ErrorResponse,
    TagRequest,
    TagResponse,
)
from biotag.service.api.state import ServiceState, StateDep
from biotag.service.config import Settings
from biotag.service.inference.tagging import Tagged
from biotag.service.text.formats import (
    MEDIA_TYPES,
    OutputFormat,
    TaggedDocument,
    pubtator_id_problem,
    render,
)

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


def _check_limits(settings: Settings, documents: list[Document]) -> None:
    if len(documents) > settings.max_documents:
        raise ApiError(
            ErrorCode.TOO_MANY_DOCUMENTS,
            f"{len(documents)} documents; at most {settings.max_documents} per request",
        )
    for index, document in enumerate(documents):
        if len(document.text) > settings.max_document_chars:
            raise ApiError(
                ErrorCode.DOCUMENT_TOO_LARGE,
                f"document {index} has {len(document.text)} characters; "
                f"at most {settings.max_document_chars}",
            )


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _tag_unless_disconnected(
    state: ServiceState, request: Request, texts: list[str], models: list[str] | None
) -> Tagged | None:
    """The tagger's answer; None when the client left first. Its refusals (unknown model, queue
    full...) propagate as they are: the error table answers them. A drain that runs out first
    answers 503: the client can retry elsewhere."""
    assert state.runtime is not None
    work = asyncio.ensure_future(state.runtime.tagger.tag(texts, models))
    watcher = asyncio.ensure_future(_client_gone(request))
    drained = asyncio.ensure_future(state.drain_expired.wait())
    try:
        await asyncio.wait({work, watcher, drained}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        drained.cancel()
    if work.done():
        return work.result()
    work.cancel()  # its queued windows are dropped before they run
    if state.drain_expired.is_set():
        raise ApiError(
            ErrorCode.NOT_READY,
            "the service shut down before this request finished "
            f"(BIOTAG_SHUTDOWN_TIMEOUT_S={state.settings.shutdown_timeout_s:g}); retry",
        )
    return None


def _check_pubtator_ids(ids: list[str]) -> None:
    problems: list[dict[str, object]] = [
        {"loc": ["body", "documents", str(index), "id"], "msg": problem}
        for index, document_id in enumerate(ids)
        if (problem := pubtator_id_problem(document_id)) is not None
    ]
    if problems:
        raise ApiError(
            ErrorCode.VALIDATION_ERROR,
            f"{len(problems)} document id(s) cannot be written as PubTator",
            details=problems,
        )


@router.post("/tag", response_model=TagResponse | BioCCollection, responses=_TAG_RESPONSES)
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
    _check_limits(state.settings, documents)
    ids = [
        document.id if document.id is not None else str(index)
        for index, document in enumerate(documents)
    ]
    if output is OutputFormat.PUBTATOR:
        _check_pubtator_ids(ids)
    if state.runtime is None or not state.registry.models:
        raise ApiError(ErrorCode.NOT_READY, "no model is loaded")
    texts = [document.text for document in documents]
    tagged = await _tag_unless_disconnected(state, request, texts, body.models)
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
                "decoding": bundle.decoding,
                "evaluation": bundle.manifest.evaluation.get(name, {}),
                "evaluation_decoding": bundle.manifest.evaluation_decoding,
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
    error = ApiError(
        ErrorCode.NOT_READY,
        "; ".join(f"{where}: {why}" for where, why in reasons.items()),
        details=[{"where": where, "why": why} for where, why in reasons.items()],
    )
    return error_response(error, state.settings.retry_after_s)  # a probe, not a refused request


class PrometheusText(Response):
    media_type = CONTENT_TYPE_LATEST


@router.get("/metrics", response_class=PrometheusText)
async def metrics(state: StateDep) -> Response:
    """Prometheus text format."""
    return PrometheusText(state.metrics.exposition())
