"""Admission, headers, 429 messages and usage correction, with a clock moved by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from specgate.access.counters import MemoryCounterStore
from specgate.access.limiter import UNLIMITED, Limiter
from specgate.access.windows import budget_window, minute_window
from specgate.core.config import VirtualKeySpec
from specgate.core.errors import RateLimitError
from tests.support.clock import ManualClock


def limiter(clock: ManualClock) -> Limiter:
    return Limiter(MemoryCounterStore(clock), clock)


def vk(**kw: object) -> VirtualKeySpec:
    return VirtualKeySpec(id="team-a", key="sk-vk-team-a-secret", **kw)  # type: ignore[arg-type]


async def test_unlimited_key_gets_no_ticket_work() -> None:
    assert await limiter(ManualClock()).admit(vk(), 10**9) is UNLIMITED


async def test_rpm_hit_and_reset() -> None:
    clock = ManualClock("2025-03-10T12:00:05Z")
    lim = limiter(clock)
    key = vk(rpm=2)
    t1 = await lim.admit(key, 10)
    assert t1.headers == {
        "anthropic-ratelimit-requests-limit": "2",
        "anthropic-ratelimit-requests-remaining": "1",
        "anthropic-ratelimit-requests-reset": "2025-03-10T12:01:00Z",
    }
    await lim.admit(key, 10)
    with pytest.raises(RateLimitError) as info:
        await lim.admit(key, 10)
    err = info.value
    assert err.status_code == 429 and err.type == "rate_limit_error"
    assert err.headers["retry-after"] == "55"
    assert err.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert "2 requests per minute" in err.message and "team-a" in err.message
    clock.advance(55)  # the next minute
    t = await lim.admit(key, 10)
    assert t.headers["anthropic-ratelimit-requests-remaining"] == "1"
    assert t.headers["anthropic-ratelimit-requests-reset"] == "2025-03-10T12:02:00Z"


async def test_tpm_reserves_then_corrects_with_real_usage() -> None:
    clock = ManualClock()
    lim = limiter(clock)
    key = vk(tpm=100)
    t1 = await lim.admit(key, 60)
    assert t1.headers["anthropic-ratelimit-tokens-remaining"] == "40"
    with pytest.raises(RateLimitError) as info:
        await lim.admit(key, 50)  # 60 reserved + 50 > 100
    assert "60 are used or reserved" in info.value.message and "needs about 50" in info.value.message
    await t1.settle(20)  # the call used 20: 40 come back
    t2 = await lim.admit(key, 50)
    assert t2.headers["anthropic-ratelimit-tokens-remaining"] == "30"
    await t2.settle(None)  # the call failed: the whole reservation comes back
    await t2.settle(999)  # settling twice changes nothing
    assert (await lim.admit(key, 80)).headers["anthropic-ratelimit-tokens-remaining"] == "0"


async def test_request_larger_than_tpm_says_so() -> None:
    with pytest.raises(RateLimitError) as info:
        await limiter(ManualClock()).admit(vk(tpm=100), 5000)
    assert "lower max_tokens" in info.value.message and "5000" in info.value.message


@pytest.mark.parametrize(
    ("period", "reset", "after"),
    [
        ("day", "2025-03-11T00:00:00Z", 12 * 3600),
        ("month", "2025-04-01T00:00:00Z", 22 * 86400),
        ("none", None, 10 * 365 * 86400),
    ],
)
async def test_budget_per_period(period: str, reset: str | None, after: float) -> None:
    clock = ManualClock("2025-03-10T12:00:00Z")
    lim = limiter(clock)
    key = vk(budget_tokens=100, budget_period=period)
    await (await lim.admit(key, 80)).settle(90)
    await lim.admit(key, 50)  # 90 < 100: still admitted (a budget is checked, not reserved against)
    with pytest.raises(RateLimitError) as info:
        await lim.admit(key, 1)
    message = info.value.message
    assert message.startswith("Token budget used up: key 'team-a' has used 140 of its 100 tokens")
    if reset is None:
        assert "does not reset" in message and "retry-after" not in info.value.headers
    else:
        assert f"resets at {reset}" in message
        expected = datetime.fromisoformat(reset).timestamp() - clock.now
        assert int(info.value.headers["retry-after"]) == int(expected)
    clock.advance(after)
    if reset is None:
        with pytest.raises(RateLimitError):
            await lim.admit(key, 1)
    else:
        await lim.admit(key, 1)


async def test_failed_correction_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryCounterStore):
        async def add(self, name: str, amount: int, ttl: float | None) -> int:
            raise ConnectionError("down")

    clock = ManualClock()
    lim = Limiter(Broken(clock), clock)
    ticket = await lim.admit(vk(tpm=100), 10)
    await ticket.settle(1)
    assert "usage correction failed: ConnectionError" in caplog.text


def test_windows() -> None:
    t = datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()
    assert budget_window("month", t).end == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert budget_window("day", t).id == "d2025-12-31"
    assert budget_window("none", t).end is None
    assert minute_window(t).end == datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    assert minute_window(t).ttl(t) == 61.0
