"""The retry budget of one client request: how many upstream attempts it may make, and until
when a new one may start, counted across every retry and every fallback route.

Without it, retries multiply: each route retries ``max_retries`` times, a fallback route does the
same, and an upstream that is itself a gateway retries inside each of our attempts. The budget
(``server.retry_budget``) is one object per request, carried in ``CallContext.budget``:

* every upstream attempt (a route's first, a retry, a fallback's) ``spend``\\ s one; once
  ``max_attempts`` are spent no retry and no fallback starts;
* a **retry** of the same upstream starts only if it can plausibly end in time: now + the
  backoff wait + the duration of the attempt that just failed must not pass ``max_seconds``
  after the first attempt began (an upstream that took 5 s to fail will take about 5 s again);
* a **fallback** starts only while less than ``max_seconds`` have passed (a different upstream,
  so the failed one's duration says nothing about it).

An attempt that has started is never cut short by the budget (it would kill a long generation
that is succeeding); it is bounded by its provider's ``timeout_s``. So a request's failure takes
at most about ``max_seconds``, plus one attempt when attempts take different times.
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

    def spend(self) -> None:
        """An upstream attempt starts."""
        if self.started is None:
            self.started = self._clock()
        self.attempts += 1

    def elapsed(self) -> float:
        return 0.0 if self.started is None else self._clock() - self.started

    def _attempts_left(self) -> bool:
        return self.max_attempts is None or self.attempts < self.max_attempts

    def allows_retry(self, wait_s: float, last_attempt_s: float) -> bool:
        """May the upstream that just failed (after ``last_attempt_s``) be tried again after ``wait_s``?"""
        if not self._attempts_left():
            return False
        return self.max_seconds is None or self.elapsed() + wait_s + last_attempt_s <= self.max_seconds

    def allows_fallback(self) -> bool:
        """May the next route be tried?"""
        if not self._attempts_left():
            return False
        return self.max_seconds is None or self.elapsed() < self.max_seconds

    def describe(self) -> str:
        """For the log: what was spent, against which bounds."""
        return (
            f"{self.attempts} of {self.max_attempts or 'unbounded'} attempts, "
            f"{self.elapsed():.2f}s of {self.max_seconds or 'unbounded'}s"
        )
