"""Which placed pods preemption may choose, summed per priority level and node.

`by_priority[p][resource, row]` is the total request of evictable pods of
priority `p` on a node, so the nodes where evicting pods below some priority
could make room are found with a few vector operations, before any per-pod
work.  Pods already being evicted by us (`evicting`) are not candidates.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Set

import numpy as np

from scheduler.core.columns import add_saturating, resized, with_column
from scheduler.core.model import Pod

if TYPE_CHECKING:  # pragma: no cover
    from scheduler.core.cache import PlacedPod


class VictimIndex:
    def __init__(self, is_evictable: Callable[[Pod], bool]) -> None:
        self.is_evictable = is_evictable  # which placed pods preemption may choose (none without preemption)
        self.by_priority: Dict[int, np.ndarray] = {}
        self.evicting: Set[str] = set()

    def add_column(self) -> None:
        for prio, array in self.by_priority.items():
            self.by_priority[prio] = with_column(array)

    def grow(self, rows: int) -> None:
        for prio, array in self.by_priority.items():
            self.by_priority[prio] = resized(array, rows)

    def clear_row(self, row: int) -> None:
        for array in self.by_priority.values():
            array[:, row] = 0

    def count(self, placed: "PlacedPod", sign: int, column: Dict[str, int], shape: tuple) -> None:
        """Add (+1) or remove (-1) a placed pod's requests in its priority level, if it may be a victim."""
        pod = placed.pod
        if sign > 0:
            placed.evictable = self.is_evictable(pod) and not pod.deleting and pod.key not in self.evicting
        if not placed.evictable:
            return
        if sign < 0:
            placed.evictable = False
        bucket = self.by_priority.get(pod.priority)
        if bucket is None:
            bucket = self.by_priority[pod.priority] = np.zeros(shape, dtype=np.int64)
        for name, amount in pod.requests.items():
            add_saturating(bucket, column[name], placed.row, sign * amount)
