"""The key ring's LRU of accepted keys: a hit skips the HMAC and the compare loop, a wrong key is
never remembered (always the full constant-time path), and the cache stays bounded."""

from __future__ import annotations

import pytest

from specgate.access import keys
from specgate.access.keys import KeyRing
from specgate.core.config import VirtualKeySpec


def ring() -> KeyRing:
    virtual = [VirtualKeySpec(id=f"vk-{i}", key=f"sk-vk-{i:04d}-abcdefghijkl") for i in range(3)]
    return KeyRing(["sk-admin-0123456789"], virtual, secret="s", key_id_secret=b"k" * 32)


def counting(monkeypatch: pytest.MonkeyPatch, target: KeyRing) -> list[str]:
    scans: list[str] = []
    scan = target._scan

    def counted(presented: str) -> str | None:
        scans.append(presented)
        return scan(presented)

    monkeypatch.setattr(target, "_scan", counted)
    return scans


def test_an_accepted_key_is_scanned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    target = ring()
    scans = counting(monkeypatch, target)
    assert [target.lookup("sk-vk-0001-abcdefghijkl") for _ in range(3)] == ["vk-1"] * 3
    assert scans == ["sk-vk-0001-abcdefghijkl"]
    admin = target.lookup("sk-admin-0123456789")
    assert admin is not None  # the opaque admin id
    assert target.lookup("sk-admin-0123456789") == admin and len(scans) == 2


def test_a_wrong_key_always_takes_the_full_path(monkeypatch: pytest.MonkeyPatch) -> None:
    target = ring()
    scans = counting(monkeypatch, target)
    assert [target.lookup("sk-wrong") for _ in range(3)] == [None] * 3
    assert scans == ["sk-wrong"] * 3  # never remembered: no cache growth from guesses
    assert target.lookup("sk-vk-0001-abcdefghijk") is None  # a prefix of a real key
    assert target.lookup("sk-vk-0001-abcdefghijklm") is None  # a real key with a suffix


def test_the_cache_is_bounded_least_recently_used_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "CACHE_SIZE", 2)
    target = ring()
    scans = counting(monkeypatch, target)
    for i in (0, 1, 0, 2):  # 1 is the least recently used when 2 arrives
        target.lookup(f"sk-vk-{i:04d}-abcdefghijkl")
    assert len(target._accepted) == 2
    scans.clear()
    assert target.lookup("sk-vk-0000-abcdefghijkl") == "vk-0" and scans == []
    assert target.lookup("sk-vk-0001-abcdefghijkl") == "vk-1" and scans == ["sk-vk-0001-abcdefghijkl"]
