"""A bounded cache, least recently used dropped first.

Pods choose their shapes, selectors and topology keys, so every cache keyed by
them is bounded: a tenant creating endless distinct ones costs the scheduler a
rebuild now and then, never unbounded memory or per-update work.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Generic, Hashable, Iterator, Optional, Tuple, TypeVar

MAX_SHAPES = 1024
"""Pod shapes remembered per cache (the engine's static masks, each plugin's masks and vectors)."""

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The cached value (now the most recently used), or `build()`'s, remembered."""
        value = self._entries.get(key)
        if value is None:
            value = self._entries[key] = build()
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        return value

    def peek(self, key: K) -> Optional[V]:
        """The cached value without counting it as a use."""
        return self._entries.get(key)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)

    def replace_values(self, change: Callable[[V], V]) -> None:
        """Every value replaced by `change(value)`, order kept (e.g. arrays grown for more nodes)."""
        for key, value in self._entries.items():
            self._entries[key] = change(value)

    def values(self) -> Iterator[V]:
        """A live view: the cache must not change while it is iterated."""
        return iter(self._entries.values())

    def items(self) -> Iterator[Tuple[K, V]]:
        """A live view: the cache must not change while it is iterated."""
        return iter(self._entries.items())

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
