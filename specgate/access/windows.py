"""The time windows counters live in, from a clock reading (seconds since the epoch, UTC).

Rate limits use fixed windows aligned to the minute; budgets use the calendar day or month in UTC,
or one lifetime window. A window has an id (part of the counter's name, so a new window starts at
zero without any reset step) and an end (the ``reset`` of the headers and the ``retry-after``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime

from specgate.core.config import BudgetPeriod
from specgate.core.records import record

Clock = Callable[[], float]  # seconds since the epoch; injectable so tests move time by hand
system_clock: Clock = time.time
MINUTE = 60.0


@record
class Window:
    id: str
    end: float | None  # None: never resets

    def ttl(self, now: float) -> float | None:
        """How long the counter must live (a little past the end, for late corrections)."""
        return None if self.end is None else max(self.end - now, 0.0) + MINUTE


def minute_window(now: float) -> Window:
    start = math.floor(now / MINUTE) * MINUTE
    return Window(f"m{int(start)}", start + MINUTE)


def budget_window(period: BudgetPeriod, now: float) -> Window:
    moment = datetime.fromtimestamp(now, UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start.timestamp() + 86400.0
        return Window("d" + start.strftime("%Y-%m-%d"), end)
    if period == "month":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
        return Window("M" + start.strftime("%Y-%m"), nxt.timestamp())
    return Window("life", None)


def rfc3339(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def retry_after(end: float, now: float) -> int:
    return max(1, math.ceil(end - now))
