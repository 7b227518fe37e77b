"""The hostile-input part of the reliability bench, short form: each hostile request gets the
contract's answer (status, envelope, exact offsets) in bounded time, and a normal client
sending meanwhile is always answered."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from bench.abstracts import ncbi_abstracts
from bench.reliability import hostile
from bench.reliability.hostile_cases import SERVER_ENV, corpus
from bench.reliability.servers import Target, running

QUICK_CASES = [case for case in corpus() if case.quick]
GENEROUS_S = 120.0  # no wall-clock promise here, only "answered, not held forever"


@dataclasses.dataclass(frozen=True)
class HostileRun:
    tried: dict[str, hostile.Tried]
    probe: hostile.Probe
    baseline_end: float


@pytest.fixture(scope="module")
def hostile_run() -> Iterator[HostileRun]:
    # the slow cases keep their bound (3x the server's header/body timeout); the rest get a
    # generous one
    cases = [
        case if case.bound_s >= 15 else dataclasses.replace(case, bound_s=GENEROUS_S)
        for case in QUICK_CASES
    ]
    with running(Target("default", 1), extra_env=SERVER_ENV) as server:
        probe = hostile.Probe(server.port, ncbi_abstracts()[0])
        probe.start()
        try:
            time.sleep(1.0)
            baseline_end = time.monotonic()
            tried = hostile.try_all(server, quick=True, cases=cases)
        finally:
            probe.stop()
        yield HostileRun({t.case.name: t for t in tried}, probe, baseline_end)


@pytest.mark.slow
@pytest.mark.parametrize("name", [case.name for case in QUICK_CASES])
def test_each_hostile_request_gets_its_documented_answer(
    hostile_run: HostileRun, name: str
) -> None:
    tried = hostile_run.tried[name]

    assert tried.problem is None, tried.answer.describe()


@pytest.mark.slow
def test_a_normal_client_is_answered_throughout(hostile_run: HostileRun) -> None:
    during = [s for s in hostile_run.probe.samples if s[0] >= hostile_run.baseline_end]

    assert len(during) >= 10
    assert [status for _, _, status in during if status != 200] == []
