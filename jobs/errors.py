"""Errors raised by the job registry.

    JobsError
    ├── QueueFullError       -- running + queued jobs already at capacity
    └── ShuttingDownError    -- the registry is closing and accepts no new work

The gateway maps these once at its boundary (e.g. to 529 overloaded / 503).
"""

from __future__ import annotations


class JobsError(Exception):
    """Base class for job registry errors."""


class QueueFullError(JobsError):
    """Raised by ``JobRegistry.submit`` when running + queued jobs reach capacity."""


class ShuttingDownError(JobsError):
    """Raised by ``JobRegistry.submit`` once ``close()`` has started."""
