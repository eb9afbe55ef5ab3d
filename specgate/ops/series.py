"""The per-request series as plain numbers: counters, histograms and a gauge whose updates are an
addition (a histogram's bucket found by ``bisect``), rendered into the same text exposition as
prometheus_client's own ``Counter``, ``Histogram`` and ``Gauge``, sample for sample.

prometheus_client takes a lock for every value it changes and walks a histogram's buckets in
Python: about 51,000 instructions of every request (callgrind) went to the nine locked updates
and two bucket walks a request makes. These series are changed only on the event loop's thread
(every caller is a request, a stream or a job on the loop), so they need no lock. Each series is
a collector on the app's registry: ``generate_latest`` renders it with everything else.

With several workers (``PROMETHEUS_MULTIPROC_DIR``) the values must live in prometheus_client's
shared files, so ``specgate.ops.metrics`` uses prometheus_client's classes there; the two have
the same ``labels(...).inc()`` / ``.observe()`` / ``inc()`` / ``dec()`` surface.
"""

from __future__ import annotations

import math
import os
import time
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.utils import floatToGoString

C = TypeVar("C")


def _created_series() -> bool:
    """prometheus_client's own switch for the ``_created`` samples."""
    return os.environ.get("PROMETHEUS_DISABLE_CREATED_SERIES", "False").lower() not in ("true", "1", "t")


class CounterChild:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.created = time.time()

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount


class HistogramChild:
    __slots__ = ("_bounds", "counts", "created", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not cumulative (the exposition adds them up)
        self.sum = 0.0
        self.created = time.time()

    def observe(self, amount: float) -> None:
        # the first bound >= amount, as prometheus_client's loop finds it; +Inf ends the bounds
        self.counts[bisect_left(self._bounds, amount)] += 1
        self.sum += amount


class _Series:
    _type = ""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry | None
    ) -> None:
        self._name = name
        self._documentation = documentation
        self._labelnames = tuple(labelnames)
        self._created = _created_series()
        if registry is not None:
            registry.register(self)  # type: ignore[arg-type]

    def describe(self) -> Iterable[Metric]:
        return [Metric(self._name, self._documentation, self._type)]


class _Labelled(_Series, Generic[C]):
    """A series with one child per label-value tuple (label values are strings)."""

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], registry: CollectorRegistry | None
    ) -> None:
        super().__init__(name, documentation, labelnames, registry)
        self._children: dict[tuple[str, ...], C] = {}

    def _new_child(self) -> C:
        raise NotImplementedError

    def labels(self, *values: str) -> C:
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self._labelnames):
                raise ValueError(f"{self._name}: {len(self._labelnames)} label values expected")
            child = self._children[values] = self._new_child()
        return child

    def _labelled(self) -> list[tuple[dict[str, str], C]]:
        """Each child with its labels, as the exposition names them."""
        return [(dict(zip(self._labelnames, values, strict=True)), c) for values, c in list(self._children.items())]


class CounterSeries(_Labelled[CounterChild]):
    _type = "counter"

    def __init__(
        self, name: str, documentation: str, labelnames: Sequence[str], *, registry: CollectorRegistry | None = None
    ) -> None:
        super().__init__(name, documentation, labelnames, registry)

    def _new_child(self) -> CounterChild:
        return CounterChild()

    def collect(self) -> Iterable[Metric]:
        metric = Metric(self._name, self._documentation, self._type)
        for labels, child in self._labelled():
            metric.add_sample(self._name + "_total", labels, child.value)
            if self._created:
                metric.add_sample(self._name + "_created", labels, child.created)
        return [metric]


class HistogramSeries(_Labelled[HistogramChild]):
    _type = "histogram"

    def __init__(
        self,
        name: str,
        documentation: str,
        labelnames: Sequence[str],
        *,
        buckets: Sequence[float],
        registry: CollectorRegistry | None = None,
    ) -> None:
        super().__init__(name, documentation, labelnames, registry)
        bounds = [float(b) for b in buckets]
        if bounds != sorted(bounds):
            raise ValueError(f"{name}: buckets not in sorted order")
        if not bounds or bounds[-1] != math.inf:
            bounds.append(math.inf)
        self._bounds = tuple(bounds)
        self._le = tuple(floatToGoString(b) for b in bounds)  # type: ignore[no-untyped-call]

    def _new_child(self) -> HistogramChild:
        return HistogramChild(self._bounds)

    def collect(self) -> Iterable[Metric]:
        metric = Metric(self._name, self._documentation, self._type)
        for labels, child in self._labelled():
            total = 0.0
            for le, count in zip(self._le, list(child.counts), strict=True):
                total += count
                metric.add_sample(self._name + "_bucket", {**labels, "le": le}, total)
            metric.add_sample(self._name + "_count", labels, total)
            if self._bounds[0] >= 0:
                metric.add_sample(self._name + "_sum", labels, child.sum)
            if self._created:
                metric.add_sample(self._name + "_created", labels, child.created)
        return [metric]


class GaugeSeries(_Series):
    """An unlabelled gauge (``inc``/``dec``)."""

    _type = "gauge"

    def __init__(self, name: str, documentation: str, *, registry: CollectorRegistry | None = None) -> None:
        super().__init__(name, documentation, (), registry)
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount

    def collect(self) -> Iterable[Metric]:
        metric = Metric(self._name, self._documentation, self._type)
        metric.add_sample(self._name, {}, self.value)
        return [metric]
