"""Reading a Prometheus text exposition in tests."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [(s.name, dict(s.labels), s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 if none)."""
    return sum(v for n, lbl, v in samples(text) if n == name and all(lbl.get(k) == x for k, x in labels.items()))


def label_values(text: str) -> set[str]:
    return {v for _, lbl, _ in samples(text) for v in lbl.values()}


def settled(fetch: Callable[[], str], timeout: float = 5.0) -> str:
    """Scrape until the scrape itself is the only request in flight: a request is counted just
    after its last byte is sent, so the client can see its answer a moment before that."""
    deadline = time.monotonic() + timeout
    while True:
        text = fetch()
        if value(text, "specgate_requests_in_flight") == 1 or time.monotonic() > deadline:
            return text
        time.sleep(0.02)
