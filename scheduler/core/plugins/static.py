"""Shared machinery for plugins that depend only on node properties and the pod's shape.

Their per-node masks and vectors are cached per (plugin, pod shape) and
dropped whenever any node changes, so the hot path pays one dict lookup.
"""
from __future__ import annotations

from typing import Callable, Dict, Hashable, Optional

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.model import Node


class MaskCache:
    def __init__(self) -> None:
        self._generation = -1
        self._size = -1
        self._masks: Dict[Hashable, np.ndarray] = {}
        self._vectors: Dict[Hashable, Optional[np.ndarray]] = {}

    def _check(self, state: ClusterState) -> None:
        if state.node_generation != self._generation or state.size != self._size:
            self._masks.clear()
            self._vectors.clear()
            self._generation, self._size = state.node_generation, state.size

    def vector(self, state: ClusterState, key: Hashable, value_of: Callable[[Node], float]) -> Optional[np.ndarray]:
        """Per-node values (0 for empty rows); None when every value is 0 (nothing to say)."""
        self._check(state)
        if key not in self._vectors:
            values = np.fromiter((0.0 if node is None else value_of(node) for node in state.nodes), dtype=float,
                                 count=state.size)
            self._vectors[key] = values if values.any() else None
        return self._vectors[key]

    def get(self, state: ClusterState, key: Hashable, node_passes: Callable[[Node], bool]) -> np.ndarray:
        self._check(state)
        mask = self._masks.get(key)
        if mask is None:
            mask = np.fromiter(
                (node is not None and node_passes(node) for node in state.nodes), dtype=bool, count=state.size
            )
            self._masks[key] = mask
        return mask

