"""Shared machinery for filters that depend only on node properties and the pod's shape.

Their masks are cached per (plugin, pod shape) and dropped whenever any node
changes, so the hot path pays one dict lookup for them.
"""
from __future__ import annotations

from typing import Callable, Dict, Hashable

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.model import Node


class MaskCache:
    def __init__(self) -> None:
        self._generation = -1
        self._size = -1
        self._masks: Dict[Hashable, np.ndarray] = {}

    def get(self, state: ClusterState, key: Hashable, node_passes: Callable[[Node], bool]) -> np.ndarray:
        if state.node_generation != self._generation or state.size != self._size:
            self._masks.clear()
            self._generation, self._size = state.node_generation, state.size
        mask = self._masks.get(key)
        if mask is None:
            mask = np.fromiter(
                (node is not None and node_passes(node) for node in state.nodes), dtype=bool, count=state.size
            )
            self._masks[key] = mask
        return mask

