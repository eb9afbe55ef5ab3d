"""Gateway overhead: time spent in the gateway minus time spent waiting for the upstream.

The outermost middleware starts an ``Overhead`` per request and puts it in the request state;
the dispatch layer adds the time it spends awaiting a provider (the whole call for a JSON
answer, up to the first event for a stream). When the response starts, the middleware sends
``x-specgate-overhead-ms`` = elapsed - upstream.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from time import perf_counter
from typing import Any

OVERHEAD_KEY = "specgate.overhead"
OVERHEAD_HEADER = b"x-specgate-overhead-ms"


class Overhead:
    __slots__ = ("started", "upstream_s")

    def __init__(self) -> None:
        self.started = perf_counter()
        self.upstream_s = 0.0

    def add_upstream(self, since: float) -> None:
        """Count the time from ``since`` (a ``perf_counter()`` reading) to now as upstream time."""
        self.upstream_s += perf_counter() - since

    def milliseconds(self) -> float:
        return max(0.0, (perf_counter() - self.started - self.upstream_s) * 1000.0)

    def header_value(self) -> bytes:
        return b"%.3f" % self.milliseconds()


def overhead_of(scope: MutableMapping[str, Any]) -> Overhead | None:
    state = scope.get("state")
    if state is None:
        return None
    found = state.get(OVERHEAD_KEY)
    return found if isinstance(found, Overhead) else None
