"""Admission for a virtual key: requests and tokens per minute, a token budget per period.

``admit`` reserves the request's estimated tokens (input estimate + ``max_tokens``) before the
upstream call; the returned ``Ticket`` corrects the counters with the real usage afterwards
(``settle``), or gives the reservation back if the call produced nothing (``settle(None)``).
Over a limit it raises ``RateLimitError`` with ``retry-after`` and Anthropic's
``anthropic-ratelimit-*`` headers; the same headers go on successful responses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from specgate.access.counters import Charge, CounterStore, Outcome
from specgate.access.windows import Clock, Window, budget_window, minute_window, retry_after, rfc3339
from specgate.core.config import VirtualKeySpec
from specgate.core.errors import ApiError, RateLimitError
from specgate.core.records import record

log = logging.getLogger("specgate.limits")
_PERIOD_WORD = {"day": "today (UTC)", "month": "this month (UTC)", "none": "in total"}


@record
class _Counter:
    kind: str  # requests | tokens | budget
    charge: Charge
    window: Window


@dataclass
class Ticket:
    """What one admitted request holds: response headers and the reservation to correct."""

    headers: dict[str, str] = field(default_factory=dict)
    reserved: int = 0
    _store: CounterStore | None = None
    _token_counters: tuple[_Counter, ...] = ()
    _settled: bool = False

    async def settle(self, used_tokens: int | None) -> None:
        """Replace the reservation with the real usage; ``None`` gives the reservation back."""
        if self._settled or self._store is None:
            return
        self._settled = True
        delta = (used_tokens if used_tokens is not None else 0) - self.reserved
        if delta == 0:
            return
        try:
            for counter in self._token_counters:
                await self._store.add(counter.charge.name, delta, counter.charge.ttl)
        except Exception as exc:  # a correction lost must not fail the (finished) response
            log.warning("limits: usage correction failed: %s", type(exc).__name__)


UNLIMITED = Ticket()


class WindowFull(RateLimitError):
    """A per-minute limit is reached, and this request fits once the window turns over: a caller
    that can wait (a batch item) retries after ``retry_after_s``; a client gets the plain 429."""

    def __init__(self, message: str, *, headers: dict[str, str], retry_after_s: int) -> None:
        super().__init__(message, headers=headers)
        self.retry_after_s = retry_after_s


class Limiter:
    def __init__(self, store: CounterStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def _counters(self, key: VirtualKeySpec, tokens: int, now: float, *, count_tokens: bool) -> list[_Counter]:
        minute = minute_window(now)
        counters: list[_Counter] = []
        tag = "{" + key.id + "}"
        if key.rpm is not None:
            counters.append(_Counter("requests", Charge(f"{tag}:rpm:{minute.id}", 1, key.rpm, minute.ttl(now)), minute))
        if count_tokens and key.tpm is not None:
            charge = Charge(f"{tag}:tpm:{minute.id}", tokens, key.tpm, minute.ttl(now))
            counters.append(_Counter("tokens", charge, minute))
        if count_tokens and key.budget_tokens is not None:
            period = budget_window(key.budget_period, now)
            charge = Charge(f"{tag}:budget:{period.id}", tokens, key.budget_tokens, period.ttl(now), fit=False)
            counters.append(_Counter("budget", charge, period))
        return counters

    async def admit(self, key: VirtualKeySpec, tokens: int, *, count_tokens: bool = True) -> Ticket:
        """Check and reserve; ``count_tokens=False`` counts the request only (token counting)."""
        if not key.limited:
            return UNLIMITED
        now = self.clock()
        counters = self._counters(key, tokens, now, count_tokens=count_tokens)
        if not counters:
            return UNLIMITED
        try:
            outcome = await self.store.admit([c.charge for c in counters])
        except Exception as exc:
            log.error("limits: counter store unavailable: %s", type(exc).__name__)
            raise ApiError("rate limit store unavailable") from None
        headers = _headers(counters, outcome)
        if not outcome.admitted:
            assert outcome.refused is not None
            raise _refusal(key, counters[outcome.refused], outcome.values[outcome.refused], tokens, now, headers)
        token_counters = tuple(c for c in counters if c.kind != "requests")
        reserved = tokens if token_counters else 0
        return Ticket(headers, reserved, self.store, token_counters)

    async def close(self) -> None:
        await self.store.close()


def _headers(counters: list[_Counter], outcome: Outcome) -> dict[str, str]:
    headers: dict[str, str] = {}
    for counter, value in zip(counters, outcome.values, strict=True):
        if counter.kind == "budget" or counter.window.end is None:
            continue
        prefix = f"anthropic-ratelimit-{counter.kind}"
        headers[f"{prefix}-limit"] = str(counter.charge.limit)
        headers[f"{prefix}-remaining"] = str(max(counter.charge.limit - value, 0))
        headers[f"{prefix}-reset"] = rfc3339(counter.window.end)
    return headers


def _refusal(
    key: VirtualKeySpec, counter: _Counter, value: int, tokens: int, now: float, headers: dict[str, str]
) -> RateLimitError:
    limit = counter.charge.limit
    end = counter.window.end
    wait = retry_after(end, now) if end is not None else None
    if wait is not None:
        headers = {**headers, "retry-after": str(wait)}
    if counter.kind == "requests":
        message = f"Rate limit exceeded: key '{key.id}' allows {limit} requests per minute; retry after the reset"
    elif counter.kind == "tokens" and tokens > limit:
        message = (
            f"Request needs about {tokens} tokens (input estimate + max_tokens), more than the {limit} "
            f"tokens per minute key '{key.id}' allows; lower max_tokens"
        )
    elif counter.kind == "tokens":
        message = (
            f"Rate limit exceeded: key '{key.id}' allows {limit} input+output tokens per minute; "
            f"{value} are used or reserved this minute and this request needs about {tokens}"
        )
    else:  # the budget: waiting a minute does not help
        when = f"; it resets at {rfc3339(end)}" if end is not None else "; it does not reset"
        message = (
            f"Token budget used up: key '{key.id}' has used {value} of its {limit} tokens "
            f"{_PERIOD_WORD[key.budget_period]}{when}"
        )
    if wait is not None and (counter.kind == "requests" or (counter.kind == "tokens" and tokens <= limit)):
        return WindowFull(message, headers=headers, retry_after_s=wait)
    return RateLimitError(message, headers=headers)
