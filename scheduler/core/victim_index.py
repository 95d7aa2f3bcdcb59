"""Which placed pods preemption may choose, summed per priority level and node.

`by_priority[p][resource, row]` is the total request of evictable pods of
priority `p` on a node, so the nodes where evicting pods below some priority
could make room are found with a few vector operations, before any per-pod
work.  Pods already leaving (being evicted by us, in `evicting`, or
terminating) are not candidates: their requests are summed in `leaving`
instead, as room that will be freed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, Set, Tuple

import numpy as np

from scheduler.core.columns import add_saturating, resized, with_column
from scheduler.core.model import Pod

if TYPE_CHECKING:  # pragma: no cover
    from scheduler.core.cache import PlacedPod


class VictimIndex:
    def __init__(self, is_evictable: Callable[[Pod], bool]) -> None:
        self.is_evictable = is_evictable  # which placed pods preemption may choose (none without preemption)
        self.by_priority: Dict[int, np.ndarray] = {}
        self.leaving: Dict[int, np.ndarray] = {}
        self.evicting: Set[str] = set()

    def add_column(self) -> None:
        for buckets in (self.by_priority, self.leaving):
            for prio, array in buckets.items():
                buckets[prio] = with_column(array)

    def grow(self, rows: int) -> None:
        for buckets in (self.by_priority, self.leaving):
            for prio, array in buckets.items():
                buckets[prio] = resized(array, rows)

    def clear_row(self, row: int) -> None:
        for buckets in (self.by_priority, self.leaving):
            for array in buckets.values():
                array[:, row] = 0

    def is_leaving(self, pod: Pod) -> bool:
        return pod.deleting or pod.key in self.evicting

    def count(self, placed: PlacedPod, sign: int, column: Dict[str, int], shape: Tuple[int, ...]) -> None:
        """Add (+1) or remove (-1) a placed pod's requests in its priority level: as a possible victim,
        or as room that will be freed when it is already leaving."""
        pod = placed.pod
        if sign > 0:
            placed.leaving = self.is_leaving(pod)
            placed.evictable = not placed.leaving and self.is_evictable(pod)
        if placed.leaving:
            buckets = self.leaving
            placed.leaving = sign > 0
        elif placed.evictable:
            buckets = self.by_priority
            placed.evictable = sign > 0
        else:
            return
        bucket = buckets.get(pod.priority)
        if bucket is None:
            bucket = buckets[pod.priority] = np.zeros(shape, dtype=np.int64)
        for name, amount in pod.requests.items():
            add_saturating(bucket, column[name], placed.row, sign * amount)
