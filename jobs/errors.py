"""Errors raised by the job registry and its stores.

    JobsError
    ├── QueueFullError          -- running + queued jobs already at capacity
    ├── ShuttingDownError       -- the registry is closing and accepts no new work
    └── StoreUnavailableError   -- the job store (Redis, the SQLite file) cannot be reached or used

The gateway maps these once at its boundary (529 overloaded, 503 with ``retry-after``).
"""

from __future__ import annotations


class JobsError(Exception):
    """Base class for job registry errors."""


class QueueFullError(JobsError):
    """Raised by ``JobRegistry.submit`` when running + queued jobs reach capacity."""


class ShuttingDownError(JobsError):
    """Raised by ``JobRegistry.submit`` once ``close()`` has started."""


class StoreUnavailableError(JobsError):
    """A store call failed because the store is down or unusable (not because of the record).

    ``store`` names the kind of store ("redis", "sqlite") for the client's error message; the
    cause (host, path, library text) stays in the log only.
    """

    def __init__(self, store: str) -> None:
        self.store = store
        super().__init__(f"the {store} job store is unavailable")
