"""App wiring: FastAPI's own OpenTelemetry instrumentation runs only when BIOTAG_OPENTELEMETRY
asks for it (in process, with the OpenTelemetry SDK recording spans in memory)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from starlette.testclient import TestClient

from biotag.service.api.app import create_app
from biotag.service.config import REPO_MODELS_DIR, Settings


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    # the process-wide provider, as an SDK set up by `opentelemetry-instrument` would be; it
    # can be set once per process, and no other test sets one
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()


@pytest.mark.parametrize("enabled", [False, True])
def test_request_spans_are_recorded_only_when_opentelemetry_is_on(
    spans: InMemorySpanExporter, enabled: bool
) -> None:
    spans.clear()
    settings = Settings(models_dir=REPO_MODELS_DIR, intra_op_threads=1, opentelemetry=enabled)
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200

    names = [span.name for span in spans.get_finished_spans()]
    assert any("/healthz" in name for name in names) is enabled, names
