"""Counters for limits: the store protocol and its in-memory implementation
(``specgate.access.build.open_store`` picks it or the Redis one).

An admission is one atomic step over several counters (requests this minute, tokens this minute,
tokens this budget period): every counter is checked, and only if all pass are all incremented.
A counter's expiry is set when it is created (fixed windows: the name carries the window id).

The memory store is per process (``--workers N`` gives N separate sets of counters); the Redis
store (``redis_store``) is shared by every replica pointing at the same server.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from specgate.access.windows import Clock
from specgate.core.records import record


@record
class Charge:
    name: str  # counter name, without the store prefix
    amount: int
    limit: int
    ttl: float | None  # seconds the counter lives after creation; None: forever
    fit: bool = True  # True: admitted if value + amount <= limit; False: if value < limit


@record
class Outcome:
    admitted: bool
    values: tuple[int, ...]  # each counter after the increments (admitted) or as it is (refused)
    refused: int | None = None  # index of the first charge that did not pass


class CounterStore(Protocol):
    async def admit(self, charges: Sequence[Charge]) -> Outcome: ...

    async def add(self, name: str, amount: int, ttl: float | None) -> int: ...

    async def close(self) -> None: ...


def passes(charge: Charge, value: int) -> bool:
    return value + charge.amount <= charge.limit if charge.fit else value < charge.limit


class MemoryCounterStore:
    """Counters in a dict. Each method runs without awaiting, so it is atomic on the event loop."""

    SWEEP_EVERY = 1024

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._values: dict[str, tuple[int, float | None]] = {}  # name -> (value, expires_at)
        self._ops = 0

    def _value(self, name: str, now: float) -> int:
        entry = self._values.get(name)
        if entry is None:
            return 0
        if entry[1] is not None and entry[1] <= now:
            del self._values[name]
            return 0
        return entry[0]

    def _incr(self, name: str, amount: int, ttl: float | None, now: float) -> int:
        value = self._value(name, now) + amount
        entry = self._values.get(name)
        expires = entry[1] if entry is not None else (None if ttl is None else now + ttl)
        self._values[name] = (value, expires)
        return value

    def _sweep(self, now: float) -> None:
        self._ops += 1
        if self._ops % self.SWEEP_EVERY == 0:
            for name in [n for n, (_, e) in self._values.items() if e is not None and e <= now]:
                del self._values[name]

    async def admit(self, charges: Sequence[Charge]) -> Outcome:
        now = self._clock()
        self._sweep(now)
        current = [self._value(c.name, now) for c in charges]
        for i, (charge, value) in enumerate(zip(charges, current, strict=True)):
            if not passes(charge, value):
                return Outcome(False, tuple(current), i)
        return Outcome(True, tuple(self._incr(c.name, c.amount, c.ttl, now) for c in charges))

    async def add(self, name: str, amount: int, ttl: float | None) -> int:
        now = self._clock()
        self._sweep(now)  # a store only added to (the failed-auth guard's) is swept too
        return self._incr(name, amount, ttl, now)

    def __len__(self) -> int:
        """Counters held (expired ones included until they are swept or looked up)."""
        return len(self._values)

    def peek(self, name: str) -> int:
        """The counter's value now (0 when absent or expired); creates nothing."""
        return self._value(name, self._clock())

    async def close(self) -> None:
        self._values.clear()
