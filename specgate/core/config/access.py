"""Config pieces for governance: ``auth.virtual_keys`` entries and the ``limits`` section.

Parsed by ``specgate.core.config.parse`` through its ``Reader`` (which names the file and key
path in every error); this module only knows the shapes and the rules. Key values are kept out of
``repr`` so a logged config never shows them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from specgate.core.config.reader import Reader
from specgate.core.redis_url import cluster_nodes, is_cluster_url, is_redis_url

BudgetPeriod = Literal["day", "month", "none"]
BUDGET_PERIODS: tuple[BudgetPeriod, ...] = ("day", "month", "none")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,63}$")
VIRTUAL_KEY_FIELDS = ("id", "key", "models", "rpm", "tpm", "budget_tokens", "budget_period")
MIN_KEY_LENGTH = 8


@dataclass(frozen=True, slots=True)
class VirtualKeySpec:
    id: str  # the principal id: owns jobs and batches, names counters; not a secret
    key: str = field(repr=False)
    models: tuple[str, ...] = ("*",)  # globs; a request for any other model gets 403
    rpm: int | None = None  # requests per minute
    tpm: int | None = None  # input + output tokens per minute
    budget_tokens: int | None = None  # tokens per budget_period
    budget_period: BudgetPeriod = "none"  # calendar day / month in UTC, or lifetime

    @property
    def limited(self) -> bool:
        return self.rpm is not None or self.tpm is not None or self.budget_tokens is not None


@dataclass(frozen=True, slots=True)
class LimitsConfig:
    store: str = "memory"  # "memory", redis://host:port/db or redis+cluster://host:port
    prefix: str = "specgate:limits"


def _positive(r: Reader, d: dict[str, Any], key: str, path: str) -> int | None:
    value: int | None = r.get(d, key, path, int, None)
    if value is not None and value < 1:
        raise r.fail(f"{path}.{key}", "must be a positive integer")
    return value


def parse_virtual_keys(r: Reader, value: Any, path: str, admin_keys: tuple[str, ...]) -> tuple[VirtualKeySpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise r.fail(path, "must be a list of {id, key, models, rpm, tpm, budget_tokens, budget_period}")
    keys: list[VirtualKeySpec] = []
    seen_keys = set(admin_keys)
    for i, item in enumerate(value):
        p = f"{path}[{i}]"
        d = r.mapping(item, p, VIRTUAL_KEY_FIELDS)
        vid = r.get(d, "id", p, str, None)
        if not vid:
            raise r.fail(f"{p}.id", "is required")
        if not _ID_RE.match(vid) or vid.startswith("key_"):
            raise r.fail(f"{p}.id", "must be 1-64 of A-Z a-z 0-9 _ . : @ - and not start with 'key_'")
        if any(k.id == vid for k in keys):
            raise r.fail(f"{p}.id", f"duplicate virtual key id {vid!r}")
        key = r.get(d, "key", p, str, None)
        if not key:
            raise r.fail(f"{p}.key", "is required")
        if len(key) < MIN_KEY_LENGTH:  # the message never shows the value
            raise r.fail(f"{p}.key", f"must be at least {MIN_KEY_LENGTH} characters")
        if key in seen_keys:
            raise r.fail(f"{p}.key", "is the same as another configured key")
        seen_keys.add(key)
        models = r.strings(d, "models", p) if d.get("models") is not None else ("*",)
        if not models:
            raise r.fail(f"{p}.models", "must be a non-empty list of model names or globs")
        period = r.get(d, "budget_period", p, str, "none")
        if period not in BUDGET_PERIODS:
            raise r.fail(f"{p}.budget_period", "must be one of day, month, none")
        keys.append(
            VirtualKeySpec(
                id=vid,
                key=key,
                models=models,
                rpm=_positive(r, d, "rpm", p),
                tpm=_positive(r, d, "tpm", p),
                budget_tokens=_positive(r, d, "budget_tokens", p),
                budget_period=period,
            )
        )
    return tuple(keys)


def check_redis_url(r: Reader, path: str, url: str) -> None:
    """A ``redis+cluster://`` URL must name its nodes and no database."""
    if is_cluster_url(url):
        try:
            cluster_nodes(url)
        except ValueError as exc:
            raise r.fail(path, str(exc)) from None


def parse_limits(r: Reader, value: Any) -> LimitsConfig:
    d = r.mapping(value, "limits", ("store", "prefix"))
    store = str(r.get(d, "store", "limits", str, "memory"))
    if store != "memory" and not is_redis_url(store):
        raise r.fail("limits.store", "must be 'memory' or a redis:// URL (redis+cluster:// for a Redis Cluster)")
    check_redis_url(r, "limits.store", store)
    prefix = str(r.get(d, "prefix", "limits", str, "specgate:limits"))
    if not prefix:
        raise r.fail("limits.prefix", "must not be empty")
    return LimitsConfig(store=store, prefix=prefix)
