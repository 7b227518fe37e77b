"""The SIGTERM drain part of the reliability bench, short form: under load, a real `biotag
serve` finishes what it accepted, refuses new connections and exits 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.reliability import drain
from bench.reliability.servers import Target


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_completes_accepted_requests_refuses_new_ones_and_exits_0(
    workers: int, tmp_path: Path
) -> None:
    under_load, long_request = drain.run(Target("default", workers), quick=True, work=tmp_path)

    assert int(under_load.figures["in_flight_at_signal"]) > 0
    assert under_load.figures["completed_200"] == under_load.figures["in_flight_at_signal"], (
        under_load.outcome
    )
    assert under_load.figures["probes_dropped"] == 0, under_load.outcome
    assert under_load.figures["probes_not_refused_after_1s"] == 0, under_load.outcome
    assert under_load.figures["exit_status"] == 0, under_load.outcome
    assert long_request.ok, long_request.outcome  # 64 documents in flight: answered 200
