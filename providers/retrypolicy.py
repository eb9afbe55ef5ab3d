"""When to retry an upstream call: the key pool (round-robin, a refused key cools down), the wait
the upstream asks for (``retry-after-ms``, ``retry-after``), and whether an error answer may be
retried at all (``x-should-retry``, and the headers by which an upstream gateway says it has
retried the request itself)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping, Sequence


class KeyPool:
    """Round-robin API keys; a key that failed auth or was rate limited cools down for a while.

    If every key is cooling down, the one whose cool-down ends first is used anyway."""

    def __init__(self, keys: Sequence[str], cooldown_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._keys = tuple(keys)
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._until: dict[str, float] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self._keys)

    def pick(self) -> str | None:
        if not self._keys:
            return None
        now = self._clock()
        count = len(self._keys)
        for step in range(count):
            key = self._keys[(self._next + step) % count]
            if self._until.get(key, 0.0) <= now:
                self._next = (self._next + step + 1) % count
                return key
        return min(self._keys, key=lambda k: self._until.get(k, 0.0))

    def cool_down(self, key: str) -> None:
        self._until[key] = self._clock() + self._cooldown_s

    def has_fresh_key(self) -> bool:
        now = self._clock()
        return any(self._until.get(k, 0.0) <= now for k in self._keys)


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait: ``retry-after-ms``, else ``retry-after`` (seconds or HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


# Response headers by which an upstream gateway says how often it retried the request itself:
# LiteLLM's x-litellm-attempted-retries and Portkey's x-portkey-retry-attempt-count (-1: none).
UPSTREAM_RETRY_HEADERS = ("x-litellm-attempted-retries", "x-portkey-retry-attempt-count")


def upstream_retried(headers: Mapping[str, str]) -> bool:
    """Whether the answer says the upstream retried the request already (a count above 0)."""
    for name in UPSTREAM_RETRY_HEADERS:
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            if int(raw.strip()) > 0:
                return True
        except ValueError:
            continue
    return False


def should_retry(status: int, headers: Mapping[str, str], *, default: bool) -> bool:
    """Retry an error answer? ``default``: what its status says; an ``x-should-retry: true|false``
    overrides it, and an upstream that says it retried already (``upstream_retried``) is not
    retried whatever else it says (a gateway may pass its own upstream's ``x-should-retry`` on)."""
    retryable = default
    should = headers.get("x-should-retry", "").strip().lower()
    if should in ("true", "false"):
        retryable = should == "true"
    return retryable and not upstream_retried(headers)
