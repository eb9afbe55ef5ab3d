"""Pure parts of the shared transport: key rotation/cool-down and retry-after parsing."""

from __future__ import annotations

import email.utils
import time

import pytest

from providers.retrypolicy import KeyPool, retry_after_s


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_round_robin() -> None:
    pool = KeyPool(["a", "b", "c"], 60.0, Clock())
    assert [pool.pick() for _ in range(5)] == ["a", "b", "c", "a", "b"]


def test_no_keys() -> None:
    assert KeyPool([], 60.0).pick() is None


def test_cooling_key_is_skipped_until_its_cooldown_ends() -> None:
    clock = Clock()
    pool = KeyPool(["a", "b"], 10.0, clock)
    pool.cool_down("a")
    assert [pool.pick() for _ in range(3)] == ["b", "b", "b"]
    assert pool.has_fresh_key()
    clock.now += 10.0
    assert {pool.pick(), pool.pick()} == {"a", "b"}


def test_all_cooling_uses_the_one_that_recovers_first() -> None:
    clock = Clock()
    pool = KeyPool(["a", "b", "c"], 10.0, clock)
    pool.cool_down("b")
    clock.now += 1
    pool.cool_down("c")
    clock.now += 1
    pool.cool_down("a")
    assert not pool.has_fresh_key()
    assert pool.pick() == "b"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "junk", "retry-after": "3"}, 3.0),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after_s(headers) == expected


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    wait = retry_after_s({"retry-after": when})
    assert wait is not None and 28 <= wait <= 30
