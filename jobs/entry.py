"""One job in a registry's hands: its latest record, its work, its task, and what it holds here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from jobs.model import Job, JobOutcome

logger = logging.getLogger("jobs.registry")

Work = Callable[[], Awaitable[JobOutcome]]
Release = Callable[[], Awaitable[None]]
"""Gives back what a submitted job holds in this process (a rate-limit reservation)."""


@dataclass(eq=False, slots=True)
class Entry:
    job: Job  # latest record this registry wrote
    work: Work
    task: asyncio.Task[None] | None = None
    released: bool = False  # given back to the store at shutdown: its cancellation stores nothing
    release: Release | None = None  # called once when the job leaves this process, however

    async def give_back(self) -> None:
        """Call ``release`` once; a failure is logged (the job's record is not affected)."""
        release, self.release = self.release, None
        if release is None:
            return
        try:
            await release()
        except Exception:
            logger.exception("job %s: could not give back what it held", self.job.id)
