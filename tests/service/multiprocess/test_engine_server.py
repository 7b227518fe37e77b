"""The shared engine process, spawned for real, and workers' clients talking to it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, multiprocess

from biotag.service.config import Settings
from biotag.service.inference.batcher import QueueFullError, TooManySequencesError
from biotag.service.inference.registry import load_registry
from biotag.service.multiprocess.engine_client import (
    EngineClient,
    EngineLostError,
    EngineUnavailableError,
)
from biotag.service.multiprocess.engine_server import SharedEngine, shared_engine

pytestmark = pytest.mark.slow


def _sequences(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(5, 90, size=int(rng.integers(3, 40))) for _ in range(count)]


@pytest.fixture
def engine_env(
    tiny_bundles_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.MonkeyPatch:
    """The engine process reads its settings from the environment, as the workers do."""
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    monkeypatch.setenv("BIOTAG_MODELS_DIR", str(tiny_bundles_dir))
    monkeypatch.setenv("BIOTAG_INTRA_OP_THREADS", "1")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(metrics))
    return monkeypatch


@pytest.fixture
def engine(engine_env: pytest.MonkeyPatch) -> Iterator[SharedEngine]:
    engine_env.setenv("BIOTAG_MAX_WAIT_MS", "150")
    with shared_engine() as running:
        yield running


def _metric(name: str, metrics_dir: Path) -> float:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, str(metrics_dir))
    return sum(
        sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name == name
    )


def test_hello_names_what_the_engine_serves(engine: SharedEngine) -> None:
    assert engine.hello == {
        "provider": "cpu",
        "bundles": ["tiny-bert", "tiny-disease"],
        "errors": {},
    }
    assert engine.process.is_alive()


def test_two_workers_get_the_logits_of_an_in_process_engine_from_shared_batches(
    engine: SharedEngine, tiny_bundles_dir: Path, tmp_path: Path
) -> None:
    first, second = _sequences(3, seed=1), _sequences(1, seed=2)

    async def two_workers() -> tuple[list[np.ndarray], list[np.ndarray]]:
        clients = [await EngineClient.connect(engine.socket, 10) for _ in range(2)]
        try:
            answers = await asyncio.gather(
                clients[0].runner("tiny-bert").run(first),
                clients[1].runner("tiny-bert").run(second),
            )
        finally:
            for client in clients:
                await client.close()
        return answers[0], answers[1]

    remote_first, remote_second = asyncio.run(two_workers())
    local = load_registry(Settings(models_dir=tiny_bundles_dir, intra_op_threads=1))
    expected = local.sessions["tiny-bert"].run(first + second)
    for got, want in zip(remote_first + remote_second, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    # both requests arrived within the batcher's wait: one batch of 4 windows (the most a
    # CPU batch holds), where each alone would have made its own
    metrics_dir = tmp_path / "metrics"
    assert _metric("biotag_batch_size_sum", metrics_dir) == 4
    assert _metric("biotag_batch_size_count", metrics_dir) == 1


def test_a_withdrawn_request_leaves_the_queue_and_limits_hold(
    engine_env: pytest.MonkeyPatch,
) -> None:
    engine_env.setenv("BIOTAG_MAX_QUEUE_WINDOWS", "4")
    engine_env.setenv("BIOTAG_MAX_WAIT_MS", "400")

    async def scenario(socket: Path) -> None:
        client = await EngineClient.connect(socket, 10)
        runner = client.runner("tiny-disease")
        try:
            with pytest.raises(TooManySequencesError):
                await runner.run(_sequences(5))
            waiting = asyncio.ensure_future(runner.run(_sequences(3)))
            await asyncio.sleep(0.05)
            with pytest.raises(QueueFullError):
                await runner.run(_sequences(2))
            waiting.cancel()
            await asyncio.sleep(0.05)
            assert len(await runner.run(_sequences(4))) == 4  # the cancelled 3 left the queue
        finally:
            await client.close()

    with shared_engine() as running:
        asyncio.run(scenario(running.socket))


def test_requests_fail_fast_when_the_engine_dies(engine: SharedEngine) -> None:
    async def scenario() -> EngineClient:
        client = await EngineClient.connect(engine.socket, 10)
        waiting = asyncio.ensure_future(client.runner("tiny-bert").run(_sequences(2)))
        await asyncio.sleep(0.05)  # queued: the batcher waits 150 ms for company
        engine.process.kill()
        with pytest.raises(EngineLostError):
            await asyncio.wait_for(waiting, 10)
        with pytest.raises(EngineLostError):
            await client.runner("tiny-bert").run(_sequences(1))
        await client.close()
        return client

    assert not asyncio.run(scenario()).connected


def test_a_worker_starting_after_the_engine_died_fails_at_once(engine: SharedEngine) -> None:
    engine.process.kill()
    engine.process.join()
    # no waiting for an engine that will not come back: the server can stop (and restart)
    with pytest.raises(EngineUnavailableError):
        asyncio.run(asyncio.wait_for(EngineClient.connect(engine.socket, 600), 10))
