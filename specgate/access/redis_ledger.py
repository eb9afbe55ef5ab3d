"""The usage ledger in Redis (``specgate.access.ledger``), on the limits store's connection, so
every replica adds to and reads the same numbers.

Keys, under the limits prefix: ``usage:principals`` (a set), ``usage:t:<principal>`` (a hash of
``<model>\\t<field>`` -> total) and ``usage:m:<minute>`` (a hash of ``<principal>\\t<model>\\t<field>``,
expiring two hours after it was created). One write is one pipelined round trip of single-key
commands and no script, so on a Redis Cluster the pipeline simply goes to each key's node.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from specgate.access.ledger import HOUR_MINUTES, Rows

MINUTE_TTL_S = 2 * HOUR_MINUTES * 60


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisUsageStore:
    def __init__(self, client: Any, *, prefix: str) -> None:
        self._client = client
        self._principals = f"{prefix}:usage:principals"
        self._total = f"{prefix}:usage:t:"
        self._minute = f"{prefix}:usage:m:"

    async def add(self, principal: str, model: str, amounts: Mapping[str, int], minute: int) -> None:
        pipe = self._client.pipeline(transaction=False)
        pipe.sadd(self._principals, principal)
        bucket = f"{self._minute}{minute}"
        for name, value in amounts.items():
            pipe.hincrby(f"{self._total}{principal}", f"{model}\t{name}", value)
            pipe.hincrby(bucket, f"{principal}\t{model}\t{name}", value)
        pipe.expire(bucket, MINUTE_TTL_S, nx=True)
        await pipe.execute()

    async def totals(self, principal: str | None) -> Rows:
        if principal is None:
            principals = sorted(_text(p) for p in await self._client.smembers(self._principals))
        else:
            principals = [principal]
        pipe = self._client.pipeline(transaction=False)
        for p in principals:
            pipe.hgetall(f"{self._total}{p}")
        rows: Rows = {}
        for p, values in zip(principals, await pipe.execute(), strict=True):
            for field, value in values.items():
                model, _, name = _text(field).rpartition("\t")
                rows.setdefault((p, model), {})[name] = int(value)
        return rows

    async def minutes(self, since: int, principal: str | None) -> Rows:
        pipe = self._client.pipeline(transaction=False)
        for minute in range(since, since + HOUR_MINUTES):
            pipe.hgetall(f"{self._minute}{minute}")
        rows: Rows = {}
        for values in await pipe.execute():
            for field, value in values.items():
                head, _, name = _text(field).rpartition("\t")
                p, _, model = head.partition("\t")
                if principal is None or p == principal:
                    row = rows.setdefault((p, model), {})
                    row[name] = row.get(name, 0) + int(value)
        return rows

    async def close(self) -> None:
        """Nothing: the connection is the counter store's, which closes it."""
