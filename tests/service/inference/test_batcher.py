"""The batcher: token budget, fairness, cancellation, failure isolation, back-pressure."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

import numpy as np
import pytest

from biotag.service.inference.batcher import (
    MAX_STREAK,
    Batcher,
    BatchLimits,
    BatchStats,
    QueueFullError,
    TooManySequencesError,
    next_anchor,
    select_batch,
)

LIMITS = BatchLimits(max_batch_tokens=64, max_batch_size=4, max_wait_s=0.01, max_queue=8)


class Recorder:
    def __init__(self) -> None:
        self.batches: list[BatchStats] = []
        self.depths: list[int] = []

    def on_batch(self, stats: BatchStats) -> None:
        self.batches.append(stats)

    def on_queue_depth(self, depth: int) -> None:
        self.depths.append(depth)


def test_select_batch_keeps_oldest_and_nearest_lengths_under_budget() -> None:
    assert select_batch([10, 30, 11, 12, 9], LIMITS) == [0, 2, 3, 4]
    assert select_batch([40, 10, 39], LIMITS) == [0]  # 40 x 2 > 64
    assert select_batch([100, 5], LIMITS) == [0]  # too long for the budget: runs alone


def test_select_batch_respects_max_size() -> None:
    assert len(select_batch([4] * 10, LIMITS)) == 4


def _echo(sequences: list[np.ndarray]) -> list[np.ndarray]:
    return [sequence * 2 for sequence in sequences]


def test_a_batch_fills_from_its_anchors_request_first_then_from_others() -> None:
    owners = [0, 0, 1, 1, 0, 1]
    lengths = [4, 9, 4, 4, 9, 4]  # nearness alone would pick owner 1's short items first
    assert select_batch(lengths, LIMITS, owners, anchor=0) == [0, 1, 2, 4]
    assert select_batch([4] * 6, LIMITS, [0, 1, 1, 1, 1, 1], anchor=0) == [0, 1, 2, 3]
    assert select_batch([4] * 5, LIMITS) == [0, 1, 2, 3]  # one request: the oldest first


def test_a_request_that_anchored_batches_in_a_row_yields_to_the_next() -> None:
    owners = [3, 3, 3, 7, 7, 9]
    assert next_anchor(owners, streak_owner=-1, streak=0) == 0
    assert next_anchor(owners, streak_owner=3, streak=MAX_STREAK - 1) == 0  # still its turn
    assert next_anchor(owners, streak_owner=3, streak=MAX_STREAK) == 3  # yields to 7
    assert next_anchor([3, 3], streak_owner=3, streak=MAX_STREAK) == 0  # nobody else waits


async def test_a_short_request_waits_behind_a_few_batches_of_a_long_one_not_all_of_it() -> None:
    limits = BatchLimits(max_batch_tokens=1024, max_batch_size=4, max_wait_s=0.0, max_queue=64)
    ran: list[str] = []

    def recording(sequences: list[np.ndarray]) -> list[np.ndarray]:
        ran.extend("short" if s[0] < 0 else "long" for s in sequences)
        return sequences

    batcher = Batcher(recording, limits, Recorder())
    long_document = [np.full(8, i) for i in range(40)]
    short_request = [np.full(8, -1), np.full(8, -2)]
    long_futures = batcher.submit(long_document)
    short_futures = batcher.submit(short_request)
    batcher.start()
    try:
        await asyncio.gather(*short_futures)
        assert ran.count("long") <= MAX_STREAK * limits.max_batch_size + 2
        await asyncio.gather(*long_futures)
        assert len(ran) == 42
    finally:
        await batcher.stop()


async def test_requests_that_fit_in_a_few_batches_are_served_in_order() -> None:
    limits = BatchLimits(max_batch_tokens=1024, max_batch_size=4, max_wait_s=0.0, max_queue=64)
    ran: list[int] = []

    def recording(sequences: list[np.ndarray]) -> list[np.ndarray]:
        ran.extend(int(s[0]) for s in sequences)
        return sequences

    batcher = Batcher(recording, limits, Recorder())
    futures = [batcher.submit([np.full(8, request)] * 6) for request in range(3)]
    batcher.start()
    try:
        await asyncio.gather(*(f for request in futures for f in request))
        assert ran == sorted(ran)  # each request done before the next one starts
    finally:
        await batcher.stop()


async def test_results_return_to_their_callers() -> None:
    recorder = Recorder()
    batcher = Batcher(_echo, LIMITS, recorder)
    batcher.start()
    try:
        futures = batcher.submit([np.arange(n) for n in (3, 5, 4)])
        results = await asyncio.gather(*futures)
        assert [r.tolist() for r in results] == [[0, 2, 4], [0, 2, 4, 6, 8], [0, 2, 4, 6]]
        assert sum(b.size for b in recorder.batches) == 3
        assert recorder.batches[0].padded_tokens == 5 * recorder.batches[0].size
    finally:
        await batcher.stop()


class _Gate(threading.Event):
    """Set to let batches run; ``entered`` is set once a batch waits at it."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()


@contextlib.asynccontextmanager
async def _gated_batcher() -> AsyncIterator[tuple[Batcher, _Gate, list[int]]]:
    """A started batcher whose batches wait for the gate; the list records what ran."""
    gate = _Gate()
    ran: list[int] = []

    def gated(sequences: list[np.ndarray]) -> list[np.ndarray]:
        gate.entered.set()
        gate.wait(30)
        ran.extend(int(s[0]) for s in sequences)
        return sequences

    batcher = Batcher(gated, LIMITS, Recorder())
    batcher.start()
    try:
        yield batcher, gate, ran
    finally:
        gate.set()
        await batcher.stop()


async def test_full_queue_refuses_the_whole_submission() -> None:
    async with _gated_batcher() as (batcher, gate, _):
        first = batcher.submit([np.arange(4)] * 6)
        with pytest.raises(QueueFullError):
            batcher.submit([np.arange(4)] * 3)
        gate.set()
        await asyncio.gather(*first)


async def test_cancelled_items_are_dropped_before_they_run() -> None:
    async with _gated_batcher() as (batcher, gate, ran):
        first = batcher.submit([np.array([1, 1])])
        assert await asyncio.to_thread(gate.entered.wait, 30)  # running and blocked
        doomed = batcher.submit([np.array([2, 2])])
        kept = batcher.submit([np.array([3, 3])])
        doomed[0].cancel()
        gate.set()
        await asyncio.gather(*first, *kept)
        assert 2 not in ran
        assert ran == [1, 3]


async def test_withdrawn_requests_free_queue_room_at_once() -> None:
    async with _gated_batcher() as (batcher, gate, _):
        running = batcher.submit([np.arange(4)])
        # running and blocked: the loop does not look at the queue
        assert await asyncio.to_thread(gate.entered.wait, 30)
        withdrawn = asyncio.ensure_future(batcher.run([np.arange(4)] * 8))
        await asyncio.sleep(0)
        withdrawn.cancel()
        admitted = batcher.submit([np.arange(4)] * 8)
        gate.set()
        assert len(await asyncio.gather(*running, *admitted)) == 9


async def test_batches_in_flight_run_at_the_same_time() -> None:
    both_running = threading.Barrier(2, timeout=5)

    def meet(sequences: list[np.ndarray]) -> list[np.ndarray]:
        both_running.wait()  # returns only when a second batch runs beside this one
        return sequences

    limits = BatchLimits(max_batch_tokens=64, max_batch_size=1, max_wait_s=0.0, max_queue=8)
    batcher = Batcher(meet, limits, Recorder(), batches_in_flight=2)
    batcher.start()
    try:
        results = await asyncio.wait_for(asyncio.gather(*batcher.submit([np.arange(3)] * 2)), 10)
        assert len(results) == 2
    finally:
        await batcher.stop()


async def test_a_function_runs_once_in_every_batch_thread() -> None:
    batcher = Batcher(_echo, LIMITS, Recorder(), batches_in_flight=3)
    threads: list[int] = []
    await batcher.in_every_thread(lambda: threads.append(threading.get_ident()))
    assert len(set(threads)) == 3

    def broken() -> None:
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        await batcher.in_every_thread(broken)
    await batcher.stop()


async def test_a_failing_batch_fails_only_its_items() -> None:
    def picky(sequences: list[np.ndarray]) -> list[np.ndarray]:
        if any(s[0] == 13 for s in sequences):
            raise RuntimeError("bad batch")
        return sequences

    batcher = Batcher(picky, BatchLimits(64, 1, 0.0, 8), Recorder())
    batcher.start()
    try:
        bad, good = batcher.submit([np.array([13]), np.array([7])])
        with pytest.raises(RuntimeError):
            await bad
        assert (await good).tolist() == [7]
    finally:
        await batcher.stop()


async def test_a_submission_larger_than_the_queue_is_refused_for_good() -> None:
    batcher = Batcher(_echo, LIMITS, Recorder())
    with pytest.raises(TooManySequencesError):
        batcher.submit([np.arange(3)] * (LIMITS.max_queue + 1))
