"""Which placed pods preemption may choose, summed per priority level and node.

`by_priority[p][resource, row]` is the total request of evictable pods of
priority `p` on a node, so the nodes where evicting pods below some priority
could make room are found with a few vector operations, before any per-pod
work.  Pods already leaving (being evicted by us, in `evicting`, or
terminating) are not candidates: their requests are summed in `leaving`
instead, as room that will be freed.

`gangs` (GangIndex) answers which running gangs have a member on a node and
who the members of a gang are, kept current by the same calls, so preemption
never scans every placed pod to find whole gangs to evict.

`lowest_evictable` answers, per node, the lowest priority of its evictable
pods and the latest start among those (what a plan there must evict at
least): kept per row and recomputed, from that node's pods only, the first
time it is asked after the node's pods changed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Dict, List, Sequence, Set, Tuple

import numpy as np

from scheduler.core.columns import INT64_MAX, add_saturating, resized, with_column
from scheduler.core.model import Pod

if TYPE_CHECKING:  # pragma: no cover
    from scheduler.core.cache import PlacedPod


NONE_EVICTABLE = INT64_MAX
"""`lowest_evictable` of a node without evictable pods (above every priority)."""


class GangIndex:
    """Placed gang members: per gang, its members and their rows; per row, the gangs with a member
    there (and how many members).  Updated per placed or forgotten member, never by a scan."""

    def __init__(self) -> None:
        self.members: Dict[str, Dict[str, int]] = {}  # gang -> member key -> row
        self.on_row: Dict[int, Dict[str, int]] = {}  # row -> gang -> members on that row
        self.per_row = np.zeros(0, dtype=np.int64)  # row -> gang members on it (vector filter)

    def moved(self, pod: Pod, row: int, sign: int) -> None:
        gang = pod.gang_name
        if sign > 0:
            members = self.members.setdefault(gang, {})
            if pod.key in members:
                return  # already counted (every +1 follows its -1; this is only a guard)
            members[pod.key] = row
            on_row = self.on_row.setdefault(row, {})
            on_row[gang] = on_row.get(gang, 0) + 1
            if row >= len(self.per_row):
                self.per_row = resized(self.per_row, max(row + 1, 2 * len(self.per_row)))
            self.per_row[row] += 1
            return
        members = self.members.get(gang, {})
        if members.get(pod.key) != row:
            return
        del members[pod.key]
        if not members:
            del self.members[gang]
        on_row = self.on_row[row]
        on_row[gang] -= 1
        if not on_row[gang]:
            del on_row[gang]
            if not on_row:
                del self.on_row[row]
        self.per_row[row] -= 1

    def clear_row(self, row: int) -> None:
        """The node went: its members are no longer placed."""
        for gang in self.on_row.pop(row, {}):
            members = self.members[gang]
            for key in [k for k, r in members.items() if r == row]:
                del members[key]
            if not members:
                del self.members[gang]
        if row < len(self.per_row):
            self.per_row[row] = 0

    def gangs_on(self, row: int) -> List[str]:
        return sorted(self.on_row.get(row, {}))

    def rows_with_gangs(self, rows: np.ndarray) -> np.ndarray:
        """Those of `rows` holding at least one gang member, in their order."""
        inside = rows[rows < len(self.per_row)]
        found: np.ndarray = inside[self.per_row[inside] > 0]
        return found


class VictimIndex:
    def __init__(self, is_evictable: Callable[[Pod], bool]) -> None:
        self.is_evictable = is_evictable  # which placed pods preemption may choose (none without preemption)
        self.by_priority: Dict[int, np.ndarray] = {}
        self.leaving: Dict[int, np.ndarray] = {}
        self.evicting: Set[str] = set()
        self.gangs = GangIndex()
        self._lowest = np.zeros(0, dtype=np.int64)  # row -> lowest evictable priority (NONE_EVICTABLE: none)
        self._latest = np.zeros(0)  # row -> latest start among the evictable pods of that priority
        self._fresh = np.zeros(0, dtype=bool)  # row -> the two above are current

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
        self.gangs.clear_row(row)
        self._changed(row)

    def _changed(self, row: int) -> None:
        if row < len(self._fresh):
            self._fresh[row] = False

    def lowest_evictable(self, rows: np.ndarray,
                         pods_on: Sequence[Dict[str, PlacedPod]]) -> Tuple[np.ndarray, np.ndarray]:
        """Per row: the lowest priority of its evictable pods (NONE_EVICTABLE when it has none), and the
        latest start among the evictable pods of that priority.  Rows changed since last asked are
        recomputed from their own pods (`pods_on`: ClusterState.pods_on, never a what-if view)."""
        if len(rows) and int(rows.max()) >= len(self._fresh):
            size = max(int(rows.max()) + 1, 2 * len(self._fresh))
            self._lowest = resized(self._lowest, size, NONE_EVICTABLE)
            self._latest = resized(self._latest, size, -np.inf)
            self._fresh = resized(self._fresh, size, False)
        for row in rows[~self._fresh[rows]].tolist():
            lowest, latest = NONE_EVICTABLE, -np.inf
            for placed in pods_on[row].values():
                if placed.evictable:
                    priority = placed.pod.priority
                    if priority < lowest:
                        lowest, latest = priority, placed.pod.started
                    elif priority == lowest and placed.pod.started > latest:
                        latest = placed.pod.started
            self._lowest[row], self._latest[row], self._fresh[row] = lowest, latest, True
        return self._lowest[rows], self._latest[rows]

    def is_leaving(self, pod: Pod) -> bool:
        return pod.deleting or pod.key in self.evicting

    def count(self, placed: PlacedPod, sign: int, column: Dict[str, int], shape: Tuple[int, ...]) -> None:
        """Add (+1) or remove (-1) a placed pod's requests in its priority level: as a possible victim,
        or as room that will be freed when it is already leaving."""
        pod = placed.pod
        if pod.gang_name:
            self.gangs.moved(pod, placed.row, sign)
        self._changed(placed.row)
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
