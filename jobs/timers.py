"""Time in the registry's background: loops that run until told to stop, and writes that outlast
a store outage."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from jobs.errors import StoreUnavailableError

logger = logging.getLogger("jobs.registry")
T = TypeVar("T")
OUTAGE_RETRY_S = 1.0


async def every(interval: float, action: Callable[[], Awaitable[object]], what: str, stop: asyncio.Event) -> None:
    """Run ``action`` every ``interval`` seconds until ``stop`` is set.

    Stopping by event rather than by cancellation: redis-py's asyncio client can swallow a
    CancelledError delivered mid-command, which would leave a cancelled loop running.
    """
    while True:
        try:
            await asyncio.wait_for(stop.wait(), interval)
            return
        except TimeoutError:
            pass
        try:
            await action()
        except StoreUnavailableError as exc:  # the outage is logged once per try, without a traceback
            logger.warning("jobs: %s failed: %s", what, exc)
        except Exception:
            logger.exception("jobs: %s failed", what)


async def through_outages(call: Callable[[], Awaitable[T]], still_open: Callable[[], bool]) -> T:
    """``call()``, tried again every ``OUTAGE_RETRY_S`` while the store is unavailable and
    ``still_open()``: a job's start or its result is held in memory until the store is back
    rather than lost (which would leave the job held here and never finished)."""
    while True:
        try:
            return await call()
        except StoreUnavailableError:
            if not still_open():
                raise
            await asyncio.sleep(OUTAGE_RETRY_S)
