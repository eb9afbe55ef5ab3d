"""Usage accounting per principal and model: requests, errors, tokens by kind, and cost.

Every Messages call that reaches ``specgate.dispatch.exchange.serve`` (JSON, a stream, a background
job, a batch item) is written here once, when it settles: one request, an error if the provider
call or the stream failed, the tokens the usage reported, and the cost when the route that
served it has a ``price``. A Messages call refused before any provider (``admission``: 403 for a
model the key may not use, 429 over its limits) is one request, one error and one ``refused``,
with no tokens. ``count_tokens`` calls are counted apart (``count_tokens``,
``count_tokens_errors``: refused or failed), and the tokens they count never join the totals
(nothing was generated or billed). The model is the bounded label of ``/metrics`` (a configured exact
name, else the route pattern that matched), so client input never becomes a key of its own.

The ledger lives in the limits store (``limits.store``: memory for one process, Redis for
replicas that must agree): totals per principal, and per-minute buckets kept for an hour (the
operator page's "last hour"). Costs are kept as integer nano-dollars so that counters stay
integers in both stores. Writing never fails a response: a lost write is logged.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from specgate.access.windows import Clock, minute_window
from specgate.core.config import Price
from specgate.core.records import record

log = logging.getLogger("specgate.usage")

TOKEN_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
FIELDS = ("requests", "errors", "refused", *TOKEN_FIELDS, "count_tokens", "count_tokens_errors", "priced", "cost_nusd")
SHOWN = ("requests", "errors", "refused", *TOKEN_FIELDS, "count_tokens", "count_tokens_errors")  # as integers
REFUSED: Mapping[str, int] = {"requests": 1, "errors": 1, "refused": 1}
COUNTED: Mapping[str, int] = {"count_tokens": 1}
COUNT_FAILED: Mapping[str, int] = {"count_tokens": 1, "count_tokens_errors": 1}
HOUR_MINUTES = 60
Amounts = dict[str, int]
Rows = dict[tuple[str, str], Amounts]  # (principal, model) -> field -> value


class UsageStore(Protocol):
    """Where the ledger's counters live: totals per (principal, model) and per-minute buckets."""

    async def add(self, principal: str, model: str, amounts: Mapping[str, int], minute: int) -> None: ...

    async def totals(self, principal: str | None) -> Rows: ...

    async def minutes(self, since: int, principal: str | None) -> Rows:
        """The buckets of every minute >= ``since`` (minute numbers: epoch seconds // 60), summed."""
        ...

    async def close(self) -> None: ...


def amounts_of(usage: Mapping[str, Any] | None, price: Price | None, *, error: bool) -> Amounts:
    """One settled call as counter increments (cost in nano-dollars, from USD per million tokens)."""
    amounts: Amounts = {"requests": 1, "errors": 1} if error else {"requests": 1}
    if usage is not None:
        for name in TOKEN_FIELDS:  # a loop, not a comprehension: no function call per settled call
            value = usage.get(name)
            if type(value) is int and value > 0:  # not a bool (its own type), not negative
                amounts[name] = value
    if price is not None:
        amounts["priced"] = 1
        cost = (
            amounts.get("input_tokens", 0) * price.input
            + amounts.get("output_tokens", 0) * price.output
            + amounts.get("cache_read_input_tokens", 0) * price.cache_read
            + amounts.get("cache_creation_input_tokens", 0) * price.cache_write
        ) * 1000.0  # per million tokens, in nano-dollars: tokens * price * 1e9 / 1e6
        if math.isfinite(cost) and cost > 0:
            amounts["cost_nusd"] = round(cost)
    return amounts


def render(rows: Rows) -> list[dict[str, Any]]:
    """Rows as ``GET /v1/usage`` shows them, ordered by principal then model."""
    out: list[dict[str, Any]] = []
    for (principal, model), values in sorted(rows.items()):
        row: dict[str, Any] = {"key_id": principal, "model": model}
        for name in SHOWN:
            row[name] = int(values.get(name, 0))
        row["cost_usd"] = round(values.get("cost_nusd", 0) / 1e9, 9) if values.get("priced", 0) else None
        out.append(row)
    return out


class Ledger:
    """Records settled calls and reads them back; in front of a ``UsageStore``."""

    def __init__(self, store: UsageStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def add(self, principal: str, model: str, amounts: Mapping[str, int]) -> None:
        minute = int(self.clock() // 60)
        try:
            await self.store.add(principal, model, amounts, minute)
        except Exception as exc:  # the response is done: a lost count must not fail it
            log.warning("usage: write failed: %s", type(exc).__name__)

    async def totals(self, principal: str | None = None) -> list[dict[str, Any]]:
        return render(await self.store.totals(principal))

    async def last_hour(self, principal: str | None = None) -> list[dict[str, Any]]:
        now_minute = int(self.clock() // 60)
        return render(await self.store.minutes(now_minute - HOUR_MINUTES + 1, principal))

    async def close(self) -> None:
        await self.store.close()


@record
class Account:
    """Whose call this is, for the ledger: the principal, the model label and the ledger."""

    ledger: Ledger
    principal: str
    model: str

    async def settle(self, usage: Mapping[str, Any] | None, price: Price | None, *, error: bool) -> None:
        await self.ledger.add(self.principal, self.model, amounts_of(usage, price, error=error))

    async def refused(self) -> None:
        """A Messages call refused before any provider (403, 429): a request and an error, no tokens."""
        await self.ledger.add(self.principal, self.model, REFUSED)

    async def counted(self, *, error: bool) -> None:
        """A ``count_tokens`` call, answered or not (refused, or the provider failed)."""
        await self.ledger.add(self.principal, self.model, COUNT_FAILED if error else COUNTED)


class MemoryUsageStore:
    """The ledger in this process's memory (``limits.store: memory``); buckets older than an hour dropped."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._totals: Rows = defaultdict(lambda: defaultdict(int))
        self._minutes: dict[int, Rows] = {}

    async def add(self, principal: str, model: str, amounts: Mapping[str, int], minute: int) -> None:
        total = self._totals[(principal, model)]
        rows = self._minutes.get(minute)
        if rows is None:  # not setdefault: that would build a defaultdict on every call
            rows = self._minutes[minute] = defaultdict(lambda: defaultdict(int))
        bucket = rows[(principal, model)]
        for name, value in amounts.items():
            total[name] += value
            bucket[name] += value
        if len(self._minutes) > HOUR_MINUTES + 1:
            oldest = int(minute_window(self._clock()).end or 0) // 60 - HOUR_MINUTES - 1
            for old in [m for m in self._minutes if m < oldest]:
                del self._minutes[old]

    async def totals(self, principal: str | None) -> Rows:
        return _select(self._totals.items(), principal)

    async def minutes(self, since: int, principal: str | None) -> Rows:
        summed: Rows = {}
        for minute, rows in self._minutes.items():
            if minute >= since:
                _merge(summed, _select(rows.items(), principal))
        return summed

    async def close(self) -> None:
        self._totals.clear()
        self._minutes.clear()


def _select(items: Iterable[tuple[tuple[str, str], Mapping[str, int]]], principal: str | None) -> Rows:
    return {k: dict(v) for k, v in items if principal is None or k[0] == principal}


def _merge(into: Rows, rows: Rows) -> None:
    for key, values in rows.items():
        target = into.setdefault(key, {})
        for name, value in values.items():
            target[name] = target.get(name, 0) + value
