"""A clock tests move by hand (seconds since the epoch), injected into the gateway's limits."""

from __future__ import annotations

from datetime import UTC, datetime


class ManualClock:
    def __init__(self, start: float | str = "2025-03-10T12:00:05Z") -> None:
        self.now = start if isinstance(start, float) else datetime.fromisoformat(start).astimezone(UTC).timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
