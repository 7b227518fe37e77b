"""The fuzzing part of the reliability bench, short form: schemathesis against a live server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.reliability import fuzz
from bench.reliability.servers import Server, Target, running
from biotag.service.text.formats import OutputFormat


@pytest.fixture(scope="module")
def fuzzed() -> Iterator[tuple[Server, fuzz.Tally]]:
    with running(Target("default", 1)) as server:
        tally, _ = fuzz.fuzz(server, quick=True)
        yield server, tally


@pytest.mark.slow
def test_generated_requests_never_get_a_server_error(fuzzed: tuple[Server, fuzz.Tally]) -> None:
    _, tally = fuzzed

    assert tally.cases >= 100
    assert tally.server_errors == []
    assert tally.transport_errors == []


@pytest.mark.slow
def test_every_error_answer_is_the_contracts_envelope(fuzzed: tuple[Server, fuzz.Tally]) -> None:
    _, tally = fuzzed

    assert dict(tally.contract) == {}, tally.examples
    assert any(400 <= status < 500 for status in tally.statuses)


@pytest.mark.slow
def test_every_route_and_output_format_is_fuzzed(fuzzed: tuple[Server, fuzz.Tally]) -> None:
    _, tally = fuzzed

    for output in OutputFormat:
        assert tally.by_route[f"POST /tag?format={output.value}"] > 0
    for route in ("GET /models", "GET /healthz", "GET /readyz", "GET /metrics"):
        assert tally.by_route[route] > 0


@pytest.mark.slow
def test_the_service_is_ready_after_fuzzing(fuzzed: tuple[Server, fuzz.Tally]) -> None:
    server, _ = fuzzed

    assert fuzz.ready(server)
