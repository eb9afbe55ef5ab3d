"""Prometheus metrics: one ``Metrics`` object per app, built in the lifespan, on its own registry.

Label values are always bounded: routes are spec paths (else ``other``), models are configured
exact names or the route pattern that matched (else ``other``), key ids are opaque principal ids
(``anonymous`` without auth), reasons are error types or HTTP statuses. No label ever carries a
key, a prompt or free user input.

With several worker processes the CLI sets ``PROMETHEUS_MULTIPROC_DIR`` (emptied at start):
prometheus_client then keeps each process's values in files there, and a scrape of any worker
merges them all (counters and histograms are summed, the in-flight gauges summed over live
processes). The methods below are the API other components call (jobs, batches, rate limits).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from specgate.ops.series import CounterSeries, GaugeSeries, HistogramSeries

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
ANONYMOUS = "anonymous"
OTHER = "other"
NONE = "none"

# Seconds. Requests and upstream calls of an LLM gateway range from milliseconds to minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60)
TOKEN_TYPES = ("input", "output", "cache_read", "cache_creation")
IN_FLIGHT_HELP = "Requests being served right now"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class Metrics:
    """Every metric of the gateway, registered on a registry of its own (never the global one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        # The per-request series: plain numbers in one process, prometheus_client's shared files
        # with several workers (specgate.ops.series).
        shared = multiprocess_dir() is not None
        counter: Any = Counter if shared else CounterSeries
        histogram: Any = Histogram if shared else HistogramSeries
        self.requests = counter(
            "specgate_requests",
            "HTTP requests answered, by route, model, provider and status",
            ("route", "model", "provider", "status"),
            registry=r,
        )
        self.request_duration = histogram(
            "specgate_request_duration_seconds",
            "Time from request start to the last byte of the response (streams included)",
            ("route", "model", "provider"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight: Any = (
            Gauge("specgate_requests_in_flight", IN_FLIGHT_HELP, registry=r, multiprocess_mode="livesum")
            if shared
            else GaugeSeries("specgate_requests_in_flight", IN_FLIGHT_HELP, registry=r)
        )
        self.upstream_duration = histogram(
            "specgate_upstream_duration_seconds",
            "Time a provider took to answer: the whole message, or a stream's first event",
            ("provider", "outcome"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = histogram(
            "specgate_time_to_first_token_seconds",
            "Streams: time from request start to the first content delta",
            ("model", "provider"),
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tokens = counter(
            "specgate_tokens",
            "Tokens by model, key id and type (input, output, cache_read, cache_creation)",
            ("model", "key_id", "type"),
            registry=r,
        )
        self.upstream_errors = Counter(
            "specgate_upstream_errors",
            "Failed provider calls (after retries), by provider and reason (error type)",
            ("provider", "reason"),
            registry=r,
        )
        self.upstream_retries = Counter(
            "specgate_upstream_retries",
            "Upstream HTTP attempts retried, by provider and reason (timeout, connection or HTTP status)",
            ("provider", "reason"),
            registry=r,
        )
        self.stream_as_json = Counter(
            "specgate_upstream_stream_as_json",
            "Stream requests the upstream answered with one JSON message, turned into an event stream, by provider",
            ("provider",),
            registry=r,
        )
        self.fallbacks = Counter(
            "specgate_fallbacks",
            "Requests moved to the next route after a provider failed, by failed provider and reason",
            ("provider", "reason"),
            registry=r,
        )
        self.rate_limited = Counter(
            "specgate_rate_limit_rejections",
            "Requests rejected by a rate limit, by key id",
            ("key_id",),
            registry=r,
        )
        self.jobs = Counter(
            "specgate_jobs",
            "Async jobs finished, by kind and outcome (succeeded, failed, cancelled, expired)",
            ("kind", "outcome"),
            registry=r,
        )
        self.jobs_active = Gauge(
            "specgate_jobs_active",
            "Async jobs queued or running, by kind",
            ("kind",),
            registry=r,
            multiprocess_mode="livesum",
        )
        self.job_duration = Histogram(
            "specgate_job_duration_seconds",
            "Async job run time, by kind",
            ("kind",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_items = Counter(
            "specgate_batch_items",
            "Batch items processed, by outcome (succeeded, errored, cancelled, expired)",
            ("outcome",),
            registry=r,
        )
        self.lanes = counter(
            "specgate_fast_path",
            "Requests to the fast path's operations, by the lane that served them: fast, or connexion "
            "(handed over: a query string, an async poll, another content type, or a request to refuse)",
            ("lane",),
            registry=r,
        )
        self.fast_lane = self.lanes.labels("fast")
        self.connexion_lane = self.lanes.labels("connexion")
        self.workers = Gauge(
            "specgate_worker_up",
            "1 per live serving process (the pid label appears with several workers)",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.workers.set(1)
        # Label children of the per-request series, bound once per label tuple (label values are
        # bounded, see above): a dict lookup instead of prometheus_client's labels() per request.
        self._request_children: dict[tuple[str, str, str, int], tuple[Any, Any]] = {}
        self._upstream_children: dict[tuple[str, bool], Any] = {}
        self._token_children: dict[tuple[str, str], dict[str, Any]] = {}  # (model, key id) -> kind -> child
        self._ttft_children: dict[tuple[str, str], Any] = {}

    # -- per request (pre-bound children)

    def count_request(self, route: str, model: str, provider: str, status: int, seconds: float) -> None:
        key = (route, model, provider, status)
        children = self._request_children.get(key)
        if children is None:
            children = (
                self.requests.labels(route, model, provider, str(status)),
                self.request_duration.labels(route, model, provider),
            )
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def first_token(self, model: str, provider: str, seconds: float) -> None:
        child = self._ttft_children.get((model, provider))
        if child is None:
            child = self._ttft_children[(model, provider)] = self.ttft.labels(model, provider)
        child.observe(seconds)

    def upstream_done(self, provider: str, ok: bool, seconds: float) -> None:
        key = (provider, ok)
        child = self._upstream_children.get(key)
        if child is None:
            child = self._upstream_children[key] = self.upstream_duration.labels(provider, "ok" if ok else "error")
        child.observe(seconds)

    # -- the API other components call

    def count_rate_limited(self, key_id: str | None) -> None:
        self.rate_limited.labels(key_id or ANONYMOUS).inc()

    def job_started(self, kind: str) -> None:
        self.jobs_active.labels(kind).inc()

    def job_finished(self, kind: str, outcome: str, seconds: float | None = None) -> None:
        self.jobs_active.labels(kind).dec()
        self.jobs.labels(kind, outcome).inc()
        if seconds is not None:
            self.job_duration.labels(kind).observe(seconds)

    def count_batch_items(self, outcome: str, count: int = 1) -> None:
        self.batch_items.labels(outcome).inc(count)

    def count_tokens(self, model: str, key_id: str | None, usage: dict[str, int]) -> None:
        """``usage`` maps TOKEN_TYPES names to counts; zero counts are skipped."""
        key_id = key_id or ANONYMOUS
        children = self._token_children.get((model, key_id))
        if children is None:
            children = self._token_children[(model, key_id)] = {}
        for kind, count in usage.items():
            if count > 0:
                child = children.get(kind)
                if child is None:
                    child = children[kind] = self.tokens.labels(model, key_id, kind)
                child.inc(count)

    # -- exposition

    def render(self) -> bytes:
        """The text exposition: this app's registry, or every worker's values in multiprocess mode."""
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    def close(self) -> None:
        """Drop this process's live gauges from the shared directory (the worker is going away)."""
        directory = multiprocess_dir()
        if directory is not None:
            mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
