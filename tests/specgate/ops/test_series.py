"""The lock-free series render exactly what prometheus_client's own classes render for the same
updates, sample for sample (the ``_created`` timestamps aside, which differ by when each was made)."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from specgate.ops.metrics import LATENCY_BUCKETS, TTFT_BUCKETS, Metrics
from specgate.ops.series import CounterSeries, GaugeSeries, HistogramSeries


def exposition(registry: CollectorRegistry) -> list[str]:
    lines = generate_latest(registry).decode().splitlines()
    return [" ".join(line.split()[:-1]) if "_created{" in line or "_created " in line else line for line in lines]


def fill(counter: object, histogram: object, ttft: object, gauge: object, seed: int) -> None:
    rng = random.Random(seed)
    values = [0.0, 0.005, 0.0050001, 0.3, 1, 2.5, 599.9, 600, 601, 1e9, *[rng.expovariate(3) for _ in range(200)]]
    for i, value in enumerate(values):
        route = ("/v1/messages", "/v1/models", "other")[i % 3]
        counter.labels(route, str(200 + i % 2)).inc()  # type: ignore[attr-defined]
        counter.labels(route, "500").inc(3)  # type: ignore[attr-defined]
        histogram.labels(route, "p").observe(value)  # type: ignore[attr-defined]
        ttft.labels("m").observe(value)  # type: ignore[attr-defined]
        gauge.inc()  # type: ignore[attr-defined]
        if i % 3:
            gauge.dec()  # type: ignore[attr-defined]


def filled(counter: type, histogram: type, gauge: type) -> CollectorRegistry:
    """A registry with one series of each kind, made by these classes, given the same updates."""
    registry = CollectorRegistry(auto_describe=True)
    fill(
        counter("t_requests", "Requests", ("route", "status"), registry=registry),
        histogram("t_seconds", "Time", ("route", "provider"), buckets=LATENCY_BUCKETS, registry=registry),
        histogram("t_ttft_seconds", "TTFT", ("model",), buckets=TTFT_BUCKETS, registry=registry),
        gauge("t_in_flight", "Now", registry=registry),
        seed=7,
    )
    return registry


def test_the_exposition_is_prometheus_clients_own() -> None:
    ours = exposition(filled(CounterSeries, HistogramSeries, GaugeSeries))
    assert ours == exposition(filled(Counter, Histogram, Gauge))
    assert any(line.startswith('t_seconds_bucket{le="+Inf",provider="p",route="other"}') for line in ours)


def test_a_name_taken_twice_is_refused_and_label_counts_are_checked() -> None:
    registry = CollectorRegistry(auto_describe=True)
    CounterSeries("t_once", "Once", ("a",), registry=registry)
    with pytest.raises(ValueError, match="Duplicated"):
        Counter("t_once", "Again", ("a",), registry=registry)
    with pytest.raises(ValueError, match="label values"):
        CounterSeries("t_two", "Two", ("a", "b")).labels("only-one")
    with pytest.raises(ValueError, match="sorted"):
        HistogramSeries("t_h", "H", (), buckets=(2, 1))


def test_metrics_uses_them_in_one_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # with several workers prometheus_client's own classes are used (its shared files):
    # tests/specgate/test_serve_ops.py::test_two_workers_share_the_port_and_the_metrics
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    metrics = Metrics()
    assert isinstance(metrics.requests, CounterSeries) and isinstance(metrics.in_flight, GaugeSeries)
    metrics.count_request("/v1/messages", "m", "p", 200, 0.01)
    line = b'specgate_requests_total{model="m",provider="p",route="/v1/messages",status="200"} 1.0'
    assert line in metrics.render()
