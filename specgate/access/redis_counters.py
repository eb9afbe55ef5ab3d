"""Limit counters in Redis, shared by every replica: one Lua script per admission (check every
counter, then increment every counter, atomically), so concurrent requests on different
replicas can never both take the last unit.

Counter names carry the key id in a hash tag (``{team-a}``) so that one admission's keys share
a slot: the script runs on a Redis Cluster too (``redis+cluster://``, ``specgate.core.redis_url``),
each key's counters on one slot, different keys on different slots. Expiries are relative
(``PEXPIRE``, set when a counter is created), computed from the gateway's clock; the window id
in the name makes a new window start from zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from specgate.access.counters import Charge, Outcome
from specgate.core.redis_scripts import Scripts
from specgate.core.redis_url import connect

# KEYS: counters. ARGV: per counter, 4 values: amount, limit, ttl_ms (0: none), fit (1|0).
_ADMIT = """
local n = #KEYS
local cur = {}
for i = 1, n do
  cur[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
end
for i = 1, n do
  local amount = tonumber(ARGV[4 * i - 3])
  local limit = tonumber(ARGV[4 * i - 2])
  local ok
  if ARGV[4 * i] == '1' then ok = cur[i] + amount <= limit else ok = cur[i] < limit end
  if not ok then
    local out = {0, i}
    for j = 1, n do out[#out + 1] = cur[j] end
    return out
  end
end
local out = {1, 0}
for i = 1, n do
  out[#out + 1] = redis.call('INCRBY', KEYS[i], ARGV[4 * i - 3])
  local ttl = tonumber(ARGV[4 * i - 1])
  if ttl > 0 and redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
end
return out
"""

# KEYS: one counter. ARGV: amount, ttl_ms (0: none).
_ADD = """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 and redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return v
"""


def _ms(ttl: float | None) -> int:
    return 0 if ttl is None else max(1, int(ttl * 1000))


class RedisCounterStore:
    def __init__(self, client: Any, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._scripts = Scripts(client)

    @classmethod
    def from_url(cls, url: str, *, prefix: str, max_connections: int = 64) -> RedisCounterStore:
        """A blocking pool: a burst waits for a free connection (up to 5 s) instead of failing."""
        client = connect(url, max_connections=max_connections, timeout=5, socket_timeout=5, socket_connect_timeout=5)
        return cls(client, prefix=prefix)

    @property
    def client(self) -> Any:
        """The connection (the usage ledger shares it)."""
        return self._client

    @property
    def prefix(self) -> str:
        return self._prefix

    def _key(self, name: str) -> str:
        return f"{self._prefix}:{name}"

    async def admit(self, charges: Sequence[Charge]) -> Outcome:
        args: list[int] = []
        for c in charges:
            args += [c.amount, c.limit, _ms(c.ttl), 1 if c.fit else 0]
        raw = await self._scripts.run(_ADMIT, [self._key(c.name) for c in charges], args)
        values = tuple(int(v) for v in raw[2:])
        if int(raw[0]) == 1:
            return Outcome(True, values)
        return Outcome(False, values, int(raw[1]) - 1)

    async def add(self, name: str, amount: int, ttl: float | None) -> int:
        return int(await self._scripts.run(_ADD, [self._key(name)], [amount, _ms(ttl)]))

    async def close(self) -> None:
        await self._client.aclose()  # the pool too (Redis.from_pool; a cluster its nodes)
