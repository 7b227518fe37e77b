"""Prometheus metrics, on a registry owned by one app instance (no process-global state).

With several server processes (``workers`` > 1) prometheus-client's multiprocess mode is on
(PROMETHEUS_MULTIPROC_DIR, set by `biotag serve`): each process writes its values to files there
and /metrics, whichever process answers it, sums them over all processes.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from biotag.service.inference.batcher import BatchStats

# the route and method labels of answers given before a request line could be read
UNREAD_ROUTE = "unread"
UNREAD_METHOD = "-"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_TOKEN_BUCKETS = (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
_RATIO_BUCKETS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


class Metrics:
    def __init__(self) -> None:
        self.multiprocess = "PROMETHEUS_MULTIPROC_DIR" in os.environ
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "biotag_http_requests",
            "HTTP requests answered.",
            ["route", "method", "status"],
            registry=r,
        )
        self.request_duration = Histogram(
            "biotag_http_request_duration_seconds",
            "Time from request to response.",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "biotag_queue_depth",
            "Windows waiting to be batched.",
            ["bundle"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.in_flight = Gauge(
            "biotag_requests_in_flight",
            "POST /tag requests being served (admitted, not yet answered), summed over workers.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.queue_wait = Histogram(
            "biotag_queue_wait_seconds",
            "Time a window waited in the queue.",
            ["bundle"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "biotag_batch_size",
            "Sequences per batch.",
            ["bundle"],
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_tokens = Histogram(
            "biotag_batch_tokens",
            "Tokens computed per batch, padding included.",
            ["bundle"],
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.padding_ratio = Histogram(
            "biotag_batch_padding_ratio",
            "Share of a batch's computed tokens that are padding (0 on the CPU, which runs "
            "sequences unpadded).",
            ["bundle"],
            buckets=_RATIO_BUCKETS,
            registry=r,
        )
        self.inference_duration = Histogram(
            "biotag_inference_duration_seconds",
            "ONNX Runtime time per batch.",
            ["bundle"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "biotag_tokens", "Real (unpadded) tokens run.", ["bundle"], registry=r
        )
        self.documents = Counter("biotag_documents", "Documents tagged.", registry=r)
        self.entities = Counter(
            "biotag_entities", "Entities returned.", ["model", "type"], registry=r
        )
        self.rejections = Counter(
            "biotag_rejections", "Requests refused, by reason.", ["reason"], registry=r
        )
        self.model_info = Gauge(
            "biotag_model_info",
            "Served models (value 1).",
            ["model", "bundle", "precision", "provider"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.ready = Gauge(
            "biotag_ready",
            "1 when every bundle is loaded and warm (in every server process).",
            registry=r,
            multiprocess_mode="livemin",
        )

    def connection_answered(self, status: int) -> None:
        """Count an answer the HTTP protocol layer gave before any request was read (400 to
        bytes that are not HTTP, 408 to headers too slow): no route or method is known."""
        self.requests.labels(UNREAD_ROUTE, UNREAD_METHOD, str(status)).inc()

    def exposition(self) -> bytes:
        """The Prometheus text format of this process, or of all processes in multiprocess mode."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        combined = CollectorRegistry()
        # prometheus_client ships no annotations for its multiprocess module
        multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
        return generate_latest(combined)

    def process_exited(self) -> None:
        """Drop this process's live gauges from the multiprocess sums."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

    def batch_observer(self, bundle: str) -> BundleBatchObserver:
        return BundleBatchObserver(self, bundle)


class BundleBatchObserver:
    """Feeds one bundle's batcher statistics into the metrics."""

    def __init__(self, metrics: Metrics, bundle: str) -> None:
        self._depth = metrics.queue_depth.labels(bundle)
        self._wait = metrics.queue_wait.labels(bundle)
        self._size = metrics.batch_size.labels(bundle)
        self._tokens = metrics.batch_tokens.labels(bundle)
        self._padding = metrics.padding_ratio.labels(bundle)
        self._inference = metrics.inference_duration.labels(bundle)
        self._real_tokens = metrics.tokens.labels(bundle)

    def on_batch(self, stats: BatchStats) -> None:
        self._size.observe(stats.size)
        self._tokens.observe(stats.padded_tokens)
        self._padding.observe(1.0 - stats.real_tokens / stats.padded_tokens)
        self._inference.observe(stats.inference_seconds)
        self._real_tokens.inc(stats.real_tokens)
        for wait in stats.queue_waits:
            self._wait.observe(wait)

    def on_queue_depth(self, depth: int) -> None:
        self._depth.set(depth)
