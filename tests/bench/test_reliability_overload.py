"""The overload part of the reliability bench, short form: more clients than the server admits
(closed loop) and more requests per second than it serves (open loop, 4x its capacity) --
every request is answered, refusals are 429 or 503 with Retry-After, the rest succeed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from bench.abstracts import ncbi_abstracts
from bench.reliability import overload
from bench.reliability.servers import Server, Target, running

SECONDS = 3.0


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running(Target("default", 1), extra_env=overload.SERVER_ENV) as live:
        yield live


def _assert_every_request_answered_as_the_contract_says(tally: overload.Tally) -> None:
    assert tally.statuses["none"] == 0, tally.errors
    assert set(tally.statuses) <= {"200", "429", "503"}, tally.codes
    assert tally.missing_retry_after == 0
    assert set(tally.codes) <= {"too_many_requests", "queue_full"}
    assert tally.statuses["200"] > 0


@pytest.mark.slow
def test_clients_beyond_the_admission_limit_are_refused_with_retry_after(server: Server) -> None:
    clients = 4 * overload.MAX_CONCURRENT
    tally = asyncio.run(overload.closed_loop(server.url, ncbi_abstracts(), clients, SECONDS))

    _assert_every_request_answered_as_the_contract_says(tally)
    assert tally.statuses["429"] > 0


@pytest.mark.slow
def test_an_open_loop_beyond_capacity_is_answered_200_or_refused(server: Server) -> None:
    texts = ncbi_abstracts()
    rate = overload.capacity(server.url, texts, SECONDS, quick=True)
    tally = asyncio.run(overload.open_loop(server.url, texts, 4 * rate, SECONDS))

    _assert_every_request_answered_as_the_contract_says(tally)


@pytest.mark.slow
def test_the_server_still_serves_after_overload(server: Server) -> None:
    tally = asyncio.run(overload.closed_loop(server.url, ncbi_abstracts(), 1, 1.0))

    assert tally.statuses["200"] >= 1
    assert set(tally.statuses) == {"200"}
