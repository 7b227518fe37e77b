"""The soak part of the reliability bench, short form (about a minute of open-loop load at 70%
of capacity): every request answered, no descriptor leak."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.reliability import soak
from bench.reliability.servers import Target


@pytest.mark.slow
def test_a_short_soak_answers_every_request_and_leaks_no_descriptors(tmp_path: Path) -> None:
    (row,) = soak.run(Target("default", 1), quick=True, minutes=0.75, work=tmp_path)

    assert int(row.figures["requests"]) > 0
    assert row.figures["answered_200"] == row.figures["requests"], row.outcome
    assert int(row.figures["fds_end"]) <= int(row.figures["fds_warm"]) + soak.FD_SLACK
    assert int(row.figures["samples"]) >= 4
