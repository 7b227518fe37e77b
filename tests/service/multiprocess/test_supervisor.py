"""The supervisor of `biotag serve --workers N`: restarts with a growing delay, and the summed
metrics forget a dead worker."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from biotag.service.config import REPO_MODELS_DIR
from biotag.service.multiprocess.supervisor import metrics_folder_has_room, restart_delay
from tests.conftest import start_server, stop_server


def test_a_worker_that_keeps_dying_is_restarted_ever_more_slowly() -> None:
    delays = [restart_delay(deaths) for deaths in range(10)]
    assert delays[0] == 0.0  # a worker that lived is replaced at once
    assert delays[1:5] == [0.5, 1.0, 2.0, 4.0]
    assert max(delays) == 30.0
    assert delays == sorted(delays)


def test_a_folder_with_room_takes_metrics_files(tmp_path: Path) -> None:
    assert metrics_folder_has_room(tmp_path)


@pytest.mark.slow
def test_a_dead_workers_gauges_leave_the_summed_metrics(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    running = start_server(
        REPO_MODELS_DIR,
        tmp_path / "server.log",
        BIOTAG_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    started = re.compile(r"Started server process \[(\d+)\]")
    try:
        deadline = time.monotonic() + 90
        while len(started.findall(running.log.read_text())) < 2:
            assert time.monotonic() < deadline, running.log.read_text()
            time.sleep(0.2)
        victim = int(started.findall(running.log.read_text())[0])
        while not list(metrics_dir.glob(f"gauge_livemin_{victim}.db")):
            assert time.monotonic() < deadline, running.log.read_text()
            time.sleep(0.2)
        os.kill(victim, signal.SIGKILL)
        while len(started.findall(running.log.read_text())) < 3:  # its replacement
            assert time.monotonic() < deadline, running.log.read_text()
            time.sleep(0.2)
        assert not list(metrics_dir.glob(f"gauge_live*_{victim}.db"))
        with running.client() as client:
            while "biotag_ready 1.0" not in client.get("/metrics").text:
                assert time.monotonic() < deadline, running.log.read_text()
                time.sleep(0.5)
            assert client.post("/tag", json={"text": "Cystic fibrosis."}).status_code == 200
    finally:
        stop_server(running)
    assert running.process.returncode == 0
