"""Lru: a bounded cache, least recently used dropped first; peeking does not count as a use."""
from __future__ import annotations

from typing import List

from scheduler.core.lru import Lru


def test_the_least_recently_used_entry_goes_first_and_a_dropped_one_is_built_again():
    built: List[str] = []
    cache: Lru[str, str] = Lru(2)

    def build(key: str) -> str:
        built.append(key)
        return key.upper()

    for key in ["a", "b", "a", "c", "a", "b"]:  # "b" is dropped when "c" comes ("a" was used since)
        assert cache.get_or_build(key, lambda key=key: build(key)) == key.upper()
    assert built == ["a", "b", "c", "b"]
    assert len(cache) == 2


def test_peeking_is_not_a_use_and_values_can_be_replaced_in_place():
    cache: Lru[str, int] = Lru(2)
    cache.get_or_build("a", lambda: 1)
    cache.get_or_build("b", lambda: 2)
    assert cache.peek("a") == 1 and cache.peek("z") is None
    cache.replace_values(lambda value: value * 10)
    cache.get_or_build("c", lambda: 3)  # "a" was only peeked at: it is the least recently used
    assert dict(cache.items()) == {"b": 20, "c": 3}
    cache.pop("b")
    cache.pop("missing")
    assert list(cache.values()) == [3]
