"""The retry budget of one client request: how many upstream attempts it may make, and until
when a new one may start, counted across every retry and every fallback route.

Without it, retries multiply: each route retries ``max_retries`` times, a fallback route does the
same, and an upstream that is itself a gateway retries inside each of our attempts. The budget
(``server.retry_budget``) is one object per request, carried in ``CallContext.budget``:

* every upstream attempt (a route's first, a retry, a fallback's) ``spend``\\ s one; once
  ``max_attempts`` are spent no retry and no fallback starts;
* a retry or a fallback starts only if it can plausibly end in time: now + the backoff wait (a
  retry's) + the duration of the attempt that just failed must not pass ``max_seconds`` after
  the first attempt began. An upstream that took 5 s to fail will take about 5 s again, and
  behind one gateway the fallback route usually costs what the first did.

An attempt that has started is never cut short by the budget (it would kill a long generation
that is succeeding); it is bounded by its provider's ``timeout_s``. So a request's failure takes
at most ``max_seconds`` when attempts take similar times, and at most one attempt longer when a
later one is slower than the one before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from specgate.core.config import RetryBudgetConfig


class RetryBudget:
    def __init__(self, config: RetryBudgetConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        config = config or RetryBudgetConfig()
        self.max_attempts = config.max_attempts
        self.max_seconds = config.max_seconds
        self._clock = clock
        self.started: float | None = None  # the first attempt's start (a queued job's wait is not counted)
        self.attempts = 0
        self._attempt_started = 0.0
        self.last_attempt_s = 0.0  # how long the last failed attempt took

    def spend(self) -> None:
        """An upstream attempt starts."""
        now = self._clock()
        if self.started is None:
            self.started = now
        self._attempt_started = now
        self.attempts += 1

    def failed(self) -> None:
        """The attempt that started last has failed (its duration predicts the next one's)."""
        self.last_attempt_s = self._clock() - self._attempt_started

    def elapsed(self) -> float:
        return 0.0 if self.started is None else self._clock() - self.started

    def _attempts_left(self) -> bool:
        return self.max_attempts is None or self.attempts < self.max_attempts

    def allows_retry(self, wait_s: float) -> bool:
        """May the upstream that just failed be tried again after ``wait_s``?"""
        return self._attempts_left() and self._in_time(wait_s)

    def allows_fallback(self) -> bool:
        """May the next route be tried (now)?"""
        return self._attempts_left() and self._in_time(0.0)

    def _in_time(self, wait_s: float) -> bool:
        return self.max_seconds is None or self.elapsed() + wait_s + self.last_attempt_s <= self.max_seconds

    def describe(self) -> str:
        """For the log: what was spent, against which bounds."""
        return (
            f"{self.attempts} of {self.max_attempts or 'unbounded'} attempts, "
            f"{self.elapsed():.2f}s of {self.max_seconds or 'unbounded'}s"
        )
