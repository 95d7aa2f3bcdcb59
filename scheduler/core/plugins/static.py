"""Shared machinery for plugins that depend only on node properties and the pod's shape.

Their per-node masks and vectors are cached per (plugin, pod shape); when a
node changes only its row is computed again, so the hot path pays one dict
lookup and a node update costs one node's work per cached shape.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Iterable, Optional

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.columns import resized
from scheduler.core.lru import MAX_SHAPES, Lru
from scheduler.core.model import Node


class _Entry:
    """A per-node array and the function of one node that fills it (kept to refresh changed rows)."""

    __slots__ = ("values", "of_node", "nonzero")

    def __init__(self, values: np.ndarray, of_node: Callable[[Node], Any]) -> None:
        self.values = values
        self.of_node = of_node
        self.nonzero = bool(values.any())

    def refresh(self, state: ClusterState, rows: Iterable[int]) -> None:
        if len(self.values) < state.size:
            self.values = resized(self.values, state.size)
        for row in rows:
            node = state.nodes[row] if row < state.size else None
            self.values[row] = self.of_node(node) if node is not None else 0
        self.nonzero = bool(self.values[: state.size].any())


class MaskCache:
    """Per-node masks and vectors by key.  When nodes change, only their rows are computed again
    (all rows only after many changes at once)."""

    def __init__(self) -> None:
        self._generation = -1
        self._masks: Lru[Hashable, _Entry] = Lru(MAX_SHAPES)
        self._vectors: Lru[Hashable, _Entry] = Lru(MAX_SHAPES)

    def _check(self, state: ClusterState) -> None:
        if state.node_generation == self._generation:
            return
        rows = state.rows_changed_since(self._generation) if self._generation >= 0 else None
        if rows is None:
            self._masks.clear()
            self._vectors.clear()
        else:
            for cache in (self._masks, self._vectors):
                for entry in cache.values():
                    entry.refresh(state, rows)
        self._generation = state.node_generation

    def vector(self, state: ClusterState, key: Hashable, value_of: Callable[[Node], float]) -> Optional[np.ndarray]:
        """Per-node values (0 for empty rows); None when every value is 0 (nothing to say)."""
        self._check(state)
        entry = self._vectors.get_or_build(key, lambda: _Entry(np.fromiter(
            (0.0 if node is None else value_of(node) for node in state.nodes), dtype=float, count=state.size), value_of))
        return entry.values[: state.size] if entry.nonzero else None

    def get(self, state: ClusterState, key: Hashable, node_passes: Callable[[Node], bool]) -> np.ndarray:
        self._check(state)
        entry = self._masks.get_or_build(key, lambda: _Entry(np.fromiter(
            (node is not None and node_passes(node) for node in state.nodes), dtype=bool, count=state.size), node_passes))
        return entry.values[: state.size]

