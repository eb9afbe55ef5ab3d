"""The counter store contract, over the memory store and a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from specgate.access.build import open_store
from specgate.access.counters import Charge, CounterStore, MemoryCounterStore
from specgate.access.redis_counters import RedisCounterStore
from tests.support.clock import ManualClock


@pytest.fixture(params=["memory", "redis", "redis-cluster"])
async def store(request: Any) -> AsyncIterator[CounterStore]:
    if request.param == "memory":
        s: CounterStore = MemoryCounterStore(ManualClock())
    else:
        url = request.getfixturevalue("redis_url" if request.param == "redis" else "redis_cluster_url")
        s = open_store(url, prefix="test:limits", clock=ManualClock())
        assert isinstance(s, RedisCounterStore)
    yield s
    await s.close()


async def test_admit_increments_every_counter(store: CounterStore) -> None:
    out = await store.admit([Charge("{k}:a", 1, 3, 60), Charge("{k}:b", 10, 100, 60)])
    assert out.admitted and out.values == (1, 10) and out.refused is None
    out = await store.admit([Charge("{k}:a", 2, 3, 60), Charge("{k}:b", 10, 100, 60)])
    assert out.admitted and out.values == (3, 20)


async def test_refusal_changes_nothing(store: CounterStore) -> None:
    await store.admit([Charge("{k}:a", 2, 3, 60), Charge("{k}:b", 90, 100, 60)])
    out = await store.admit([Charge("{k}:a", 1, 3, 60), Charge("{k}:b", 20, 100, 60)])
    assert not out.admitted and out.refused == 1 and out.values == (2, 90)
    out = await store.admit([Charge("{k}:a", 1, 3, 60), Charge("{k}:b", 10, 100, 60)])  # exactly fits
    assert out.admitted and out.values == (3, 100)


async def test_open_charge_admits_until_exhausted(store: CounterStore) -> None:
    assert (await store.admit([Charge("{k}:budget", 70, 100, None, fit=False)])).admitted
    out = await store.admit([Charge("{k}:budget", 70, 100, None, fit=False)])  # 70 < 100: admitted, overshoots
    assert out.admitted and out.values == (140,)
    out = await store.admit([Charge("{k}:budget", 1, 100, None, fit=False)])
    assert not out.admitted and out.values == (140,)


async def test_add_corrects_and_creates(store: CounterStore) -> None:
    await store.admit([Charge("{k}:t", 50, 100, 60)])
    assert await store.add("{k}:t", -30, 60) == 20
    assert await store.add("{k}:fresh", 5, 60) == 5


async def test_concurrent_admissions_never_exceed_the_limit(store: CounterStore) -> None:
    # 1000 at once: more than the Redis pool's connections; a burst waits, it does not fail
    outs = await asyncio.gather(*(store.admit([Charge("{k}:c", 1, 25, 60)]) for _ in range(1000)))
    assert sum(o.admitted for o in outs) == 25


async def test_memory_counters_expire_with_the_clock() -> None:
    clock = ManualClock()
    store = MemoryCounterStore(clock)
    await store.admit([Charge("x", 5, 5, 10)])
    assert not (await store.admit([Charge("x", 1, 5, 10)])).admitted
    clock.advance(10)
    assert (await store.admit([Charge("x", 1, 5, 10)])).values == (1,)
    assert await store.add("forever", 1, None) == 1
    clock.advance(1e9)
    assert await store.add("forever", 1, None) == 2


async def test_a_memory_store_only_added_to_is_swept() -> None:
    """The failed-auth guard only adds (a counter per address and window) and peeks: expired
    windows are swept as it adds, so addresses that failed once do not pile up."""
    clock = ManualClock()
    store = MemoryCounterStore(clock)
    for address in range(MemoryCounterStore.SWEEP_EVERY):
        await store.add(f"authfail:{address}:0", 1, 10)
    assert len(store) == MemoryCounterStore.SWEEP_EVERY
    clock.advance(10)
    for address in range(MemoryCounterStore.SWEEP_EVERY):
        await store.add(f"authfail:{address}:10", 1, 10)
    assert len(store) <= MemoryCounterStore.SWEEP_EVERY  # the first window's counters went
    assert store.peek("authfail:0:10") == 1 and store.peek("authfail:0:0") == 0


async def test_redis_ttl_is_set_once_and_lifetime_counters_persist(redis_url: str) -> None:
    import redis.asyncio as aioredis

    store = RedisCounterStore.from_url(redis_url, prefix="p")
    client = aioredis.Redis.from_url(redis_url)
    try:
        await store.admit([Charge("{k}:rpm:m1", 1, 5, 30), Charge("{k}:budget:life", 3, 10, None, fit=False)])
        ttl = await client.pttl("p:{k}:rpm:m1")
        assert 29_000 < ttl <= 30_000
        assert await client.pttl("p:{k}:budget:life") == -1
        await store.admit([Charge("{k}:rpm:m1", 1, 5, 999)])  # a later admission does not extend it
        assert await client.pttl("p:{k}:rpm:m1") <= 30_000
        assert int(await client.get("p:{k}:rpm:m1")) == 2
    finally:
        await client.aclose()
        await store.close()
