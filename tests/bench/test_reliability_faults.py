"""The faults part of the reliability bench, short form, against a real `biotag serve` on the
default bundle: what clients, /readyz and /metrics see, and that the service recovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.reliability import faults, storage_faults
from bench.reliability.servers import Target

ONE_WORKER = Target("default", 1)
TWO_WORKERS = Target("default", 2)


@pytest.mark.slow
def test_a_client_that_hangs_up_leaves_most_of_its_windows_unrun(tmp_path: Path) -> None:
    row = faults.client_disconnects(ONE_WORKER, quick=True, work=tmp_path)

    assert row.figures["queue_depth_after"] == 0.0
    assert int(row.figures["tokens_after_hang_up"]) < 0.8 * int(row.figures["tokens_full"])
    assert row.figures["readyz_after"] == 200
    assert row.ok, row.outcome


@pytest.mark.slow
def test_broken_bundles_leave_the_service_live_not_ready_and_the_good_one_served(
    tmp_path: Path,
) -> None:
    row = storage_faults.broken_bundles(ONE_WORKER, work=tmp_path)

    assert row.figures["healthz"] == 200
    assert row.figures["readyz"] == 503
    assert row.figures["bad_bundles_named"] == len(storage_faults.BAD_BUNDLES), row.outcome
    assert row.figures["bundles_served"] == "default"
    assert row.figures["tag"] == "200"


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_the_other_clients_keep_their_answers(
    tmp_path: Path,
) -> None:
    row = faults.worker_killed(TWO_WORKERS, quick=True, work=tmp_path)

    assert float(row.figures["new_worker_s"]) >= 0, row.outcome
    assert row.figures["failed_after_kill"] == 0, row.outcome
    assert row.figures["fresh_connections_200"] == 8, row.outcome
    assert row.figures["readyz_after"] == 200


@pytest.mark.slow
def test_a_killed_shared_engine_answers_503_and_the_server_exits_1(tmp_path: Path) -> None:
    row = faults.engine_killed(TWO_WORKERS, quick=True, work=tmp_path)

    assert row.figures["exit_status"] == 1, row.outcome
    assert int(row.figures["in_flight_at_kill"]) > 0
    assert row.figures["answered_500"] == 0
    assert row.ok, row.outcome  # in flight at the kill: 503 not_ready, or 200 if already done


@pytest.mark.slow
def test_a_full_disk_for_metrics_files_costs_no_answer(tmp_path: Path) -> None:
    row = storage_faults.metrics_disk_full(TWO_WORKERS, quick=True, work=tmp_path)

    assert row.figures["bad_while_full"] == 0, row.outcome
    assert row.figures["bad_after_worker_restart"] == 0, row.outcome
    assert row.figures["metrics_while_full"] == 200, row.outcome
    assert row.figures["bad_after_freeing"] == 0, row.outcome
