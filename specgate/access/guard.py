"""A brake on key guessing: failed authentications are counted per client address in fixed
windows; at ``max_failures`` in a window, every credentialed request from that address gets 429
until the window ends (valid keys included, so a 200 cannot tell a guess was right).

The counters are process-local on purpose: checking them costs no network round trip on every
authenticated request. With N replicas an attacker gets at most N times the allowance.
"""

from __future__ import annotations

import math

from specgate.access.counters import MemoryCounterStore
from specgate.access.windows import Clock, retry_after
from specgate.core.errors import RateLimitError


class AuthGuard:
    def __init__(self, clock: Clock, *, max_failures: int, window_s: float) -> None:
        self._store = MemoryCounterStore(clock)
        self._clock = clock
        self.max_failures = max_failures
        self.window_s = window_s

    @property
    def enabled(self) -> bool:
        return self.max_failures > 0

    def _window(self, client: str) -> tuple[str, float, float]:
        now = self._clock()
        start = math.floor(now / self.window_s) * self.window_s
        return f"authfail:{client}:{int(start)}", start + self.window_s, now

    async def check(self, client: str) -> None:
        """Raise 429 if this address already failed too often in the current window."""
        if not self.enabled or not self._store:  # nothing has failed lately: nothing to look up
            return
        name, end, now = self._window(client)
        if self._store.peek(name) >= self.max_failures:
            raise RateLimitError(
                "Too many failed authentication attempts from this address; retry later",
                headers={"retry-after": str(retry_after(end, now))},
            )

    async def failed(self, client: str) -> None:
        if self.enabled:
            name, end, now = self._window(client)
            await self._store.add(name, 1, end - now)
