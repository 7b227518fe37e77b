"""Async micro-batching of sequences under a token budget. Knows nothing of HTTP or text.

Callers submit sequences and await futures. One task owns the queue: it waits from the first
queued item for at most ``max_wait`` (or until a batch is full), takes an anchor item plus the
items closest to it in length that fit the padded token budget, and runs the batch in a worker
thread; up to ``batches_in_flight`` batches run at once. Requests are served in order, a
batch filled from its anchor's request first, but a request that has anchored a few batches
in a row while another waits yields the next one: one long document cannot hold everyone
else up for its whole run. Cancelled items are dropped before they run; a failing batch
fails only its own items.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

RunBatch = Callable[[list[np.ndarray]], list[np.ndarray]]
MAX_STREAK = 2  # batches one submission anchors in a row while another waits
_THREAD_BARRIER_TIMEOUT_S = 600.0  # a warm-up of every GPU shape may take minutes


class QueueFullError(Exception):
    """The queue cannot take the submitted sequences now; try again later."""


class TooManySequencesError(Exception):
    """More sequences in one submission than the queue can ever hold."""


class BatcherStoppedError(Exception):
    """The batcher shut down before the sequence ran."""


@dataclass(frozen=True, slots=True)
class BatchStats:
    size: int
    padded_tokens: int
    real_tokens: int
    inference_seconds: float
    queue_waits: list[float]


class WindowRunner(Protocol):
    """Runs token-id windows and returns each one's per-token logits."""

    async def run(self, sequences: list[np.ndarray]) -> list[np.ndarray]: ...


class BatchObserver(Protocol):
    def on_batch(self, stats: BatchStats) -> None: ...

    def on_queue_depth(self, depth: int) -> None: ...


@dataclass(slots=True)
class _Item:
    sequence: np.ndarray
    future: asyncio.Future[np.ndarray]
    owner: int  # the submission it came with
    enqueued: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class BatchLimits:
    max_batch_tokens: int
    max_batch_size: int
    max_wait_s: float
    max_queue: int


def select_batch(
    lengths: list[int],
    limits: BatchLimits,
    owners: list[int] | None = None,
    anchor: int = 0,
) -> list[int]:
    """Indices (into arrival order) of the next batch: the ``anchor`` item, then the items of
    its own submission (``owners``: one request's windows), then any other, each group
    nearest in length first, within the padded token budget.

    Filling from the anchor's own request first finishes requests one after another, as a
    queue should; only places it cannot use go to others. An item longer than the whole
    budget still runs, alone.
    """
    owners = owners if owners is not None else [0] * len(lengths)
    own = owners[anchor]
    chosen = [anchor]
    longest = lengths[anchor]
    candidates = sorted(
        (i for i in range(len(lengths)) if i != anchor),
        key=lambda i: (owners[i] != own, abs(lengths[i] - lengths[anchor])),
    )
    for index in candidates:
        if len(chosen) >= limits.max_batch_size:
            break
        candidate_longest = max(longest, lengths[index])
        if candidate_longest * (len(chosen) + 1) <= limits.max_batch_tokens:
            chosen.append(index)
            longest = candidate_longest
    return sorted(chosen)


def next_anchor(owners: list[int], streak_owner: int, streak: int) -> int:
    """The oldest item, unless its submission has anchored ``MAX_STREAK`` batches in a row
    while others wait: then the oldest item of the next one. So a long document yields to a
    short request every few batches instead of holding it up for its whole run, while
    requests that fit in a few batches are served strictly in order."""
    if owners[0] != streak_owner or streak < MAX_STREAK:
        return 0
    return next((i for i, owner in enumerate(owners) if owner != streak_owner), 0)


def padded_to_longest(lengths: list[int]) -> int:
    return max(lengths) * len(lengths)


class Batcher:
    def __init__(
        self,
        run_batch: RunBatch,
        limits: BatchLimits,
        observer: BatchObserver,
        computed_tokens: Callable[[list[int]], int] = padded_to_longest,
        batches_in_flight: int = 1,
    ) -> None:
        """``computed_tokens``: the tokens ``run_batch`` computes for sequences of these
        lengths, padding included (the batch statistics' padding figures).
        ``batches_in_flight``: batches run at once (in as many threads): on a GPU the next
        batch is padded and launched while the previous one computes."""
        self._run_batch = run_batch
        self._computed_tokens = computed_tokens
        self._limits = limits
        self._observer = observer
        self._pending: deque[_Item] = deque()
        self._submissions = itertools.count()
        self._streak_owner, self._streak = -1, 0  # who anchored the last batches, how many
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(
            max_workers=batches_in_flight, thread_name_prefix="biotag-infer"
        )
        self._threads = batches_in_flight
        self._free_slots = asyncio.Semaphore(batches_in_flight)
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    async def in_every_thread(self, function: Callable[[], object]) -> None:
        """Run ``function`` once in each thread that runs batches (before ``start``), for
        per-thread state such as what a GPU provider prepares per input shape."""
        all_ran = threading.Barrier(self._threads, timeout=_THREAD_BARRIER_TIMEOUT_S)

        def once_per_thread() -> None:
            try:
                function()
            except BaseException:
                all_ran.abort()
                raise
            all_ran.wait()  # holds this thread, so the next call lands in another

        loop = asyncio.get_running_loop()
        calls = [
            loop.run_in_executor(self._executor, once_per_thread) for _ in range(self._threads)
        ]
        results = await asyncio.gather(*calls, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:  # the function's own error, not the barrier it broke for the others
            causes = [f for f in failures if not isinstance(f, threading.BrokenBarrierError)]
            raise (causes or failures)[0]

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="biotag-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._running:  # batches already running finish and answer their callers
            await asyncio.gather(*self._running, return_exceptions=True)
        while self._pending:
            item = self._pending.popleft()
            if not item.future.done():
                item.future.set_exception(BatcherStoppedError())
        self._executor.shutdown(wait=True)

    def submit(self, sequences: list[np.ndarray]) -> list[asyncio.Future[np.ndarray]]:
        """Queue all sequences or none (QueueFullError): a request is never half-admitted."""
        if len(sequences) > self._limits.max_queue:
            raise TooManySequencesError
        if len(self._pending) + len(sequences) > self._limits.max_queue:
            self._drop_cancelled()  # withdrawn items leave when the loop next wakes; now
            if len(self._pending) + len(sequences) > self._limits.max_queue:
                raise QueueFullError
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[np.ndarray]] = []
        owner = next(self._submissions)
        for sequence in sequences:
            future: asyncio.Future[np.ndarray] = loop.create_future()
            self._pending.append(_Item(sequence, future, owner))
            futures.append(future)
        self._observer.on_queue_depth(len(self._pending))
        self._arrived.set()
        return futures

    async def run(self, sequences: list[np.ndarray]) -> list[np.ndarray]:
        """Logits of each sequence once its batch ran; cancelling drops those still queued."""
        return list(await asyncio.gather(*self.submit(sequences)))

    def _drop_cancelled(self) -> None:
        if any(item.future.done() for item in self._pending):
            self._pending = deque(item for item in self._pending if not item.future.done())
            self._observer.on_queue_depth(len(self._pending))

    def _is_full(self) -> bool:
        if len(self._pending) >= self._limits.max_batch_size:
            return True
        longest = max(len(item.sequence) for item in self._pending)
        return longest * len(self._pending) >= self._limits.max_batch_tokens

    async def _wait_for_batch(self) -> None:
        while True:
            self._drop_cancelled()
            if not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            remaining = self._pending[0].enqueued + self._limits.max_wait_s - time.monotonic()
            if remaining <= 0 or self._is_full():
                return
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def _loop(self) -> None:
        while True:
            await self._free_slots.acquire()
            await self._wait_for_batch()
            pending = list(self._pending)
            owners = [item.owner for item in pending]
            anchor = next_anchor(owners, self._streak_owner, self._streak)
            if owners[anchor] == self._streak_owner:
                self._streak += 1
            else:
                self._streak_owner, self._streak = owners[anchor], 1
            lengths = [len(item.sequence) for item in pending]
            chosen = select_batch(lengths, self._limits, owners, anchor)
            chosen_set = set(chosen)
            batch = [pending[i] for i in chosen]
            self._pending = deque(item for i, item in enumerate(pending) if i not in chosen_set)
            self._observer.on_queue_depth(len(self._pending))
            task = asyncio.ensure_future(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._free_slots.release()

    async def _run(self, batch: list[_Item]) -> None:
        started = time.monotonic()
        sequences = [item.sequence for item in batch]
        try:
            results = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._run_batch, sequences
            )
        except Exception as exc:  # one failing batch fails its own items only
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        finished = time.monotonic()
        for item, result in zip(batch, results, strict=True):
            if not item.future.done():
                item.future.set_result(result)
        lengths = [len(s) for s in sequences]
        self._observer.on_batch(
            BatchStats(
                size=len(batch),
                padded_tokens=self._computed_tokens(lengths),
                real_tokens=sum(lengths),
                inference_seconds=finished - started,
                queue_waits=[started - item.enqueued for item in batch],
            )
        )
