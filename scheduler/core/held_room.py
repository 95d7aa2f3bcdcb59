"""Room held by nominations, summed per node and priority level (the index behind `Nominations`).

A nominated pod holds its requests on its node against every pod of equal or
lower priority.  `levels[p][:, slot]` is the running sum, on one node, of the
nominations of priority `p`: row 0 counts the nominations that request
anything, the other rows are per-resource sums.  The room held on every node
against a pod of priority P is the sum of the levels >= P (a few vector
additions, never a walk over the nominations); against one node it is the
same sum at one slot.

Slots are this index's own, one per node holding nominations; they are
mapped to ClusterState rows when asked (again only after nodes changed), so
a node removed and added under a reused row is never confused with another.

A node whose exact totals could overflow the int64 sums (hostile quantities)
is marked `huge`: its columns are ignored and callers answer it exactly from
its nominations.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, List, Optional, Set, Tuple

import numpy as np

from scheduler.core.model import Pod

if TYPE_CHECKING:  # pragma: no cover
    from scheduler.core.cache import ClusterState

SAFE_TOTAL = 1 << 62
"""Per node and resource, sums up to this stay exact in int64 and `free - held` cannot wrap."""


class HeldRoom:
    def __init__(self) -> None:
        self.resources: Dict[str, int] = {}  # resource -> row of the level arrays (row 0 counts nominations)
        self.levels: Dict[int, np.ndarray] = {}  # priority -> (1 + resources, capacity) running sums
        self.level_size: Dict[int, int] = {}  # priority -> nominations of that priority
        self.slot_of: Dict[str, int] = {}
        self.slot_node: List[str] = []  # "" for a free slot
        self.slot_size: List[int] = []  # nominations per slot
        self._free_slots: List[int] = []
        self.totals: Dict[str, Dict[str, int]] = {}  # node -> resource -> exact sum over all its nominations
        self.huge: Set[str] = set()
        self._capacity = 16
        self._rows_state: Optional[ClusterState] = None
        self._rows_generation = -1
        self._slot_row = np.full(self._capacity, -1, dtype=np.int64)
        self._unresolved: Set[int] = set()

    # ------------------------------------------------------------ upkeep
    def add(self, node: str, pod: Pod) -> None:
        slot = self.slot_of.get(node)
        if slot is None:
            slot = self._new_slot(node)
        self.slot_size[slot] += 1
        self.level_size[pod.priority] = self.level_size.get(pod.priority, 0) + 1
        level = self.levels.get(pod.priority)
        if level is None:
            level = self.levels[pod.priority] = np.zeros((1 + len(self.resources), self._capacity), dtype=np.int64)
        if not pod.requests:
            return
        if not all(resource in self.resources for resource in pod.requests):
            level = self._with(pod)
        totals = self.totals.setdefault(node, {})
        for resource, amount in pod.requests.items():
            totals[resource] = totals.get(resource, 0) + amount
            if totals[resource] > SAFE_TOTAL:
                self.huge.add(node)
        if node in self.huge:
            return  # its columns are no longer kept: it is answered exactly
        level[0, slot] += 1
        for resource, amount in pod.requests.items():
            level[self.resources[resource], slot] += amount

    def remove(self, node: str, pod: Pod) -> None:
        slot = self.slot_of[node]
        self.slot_size[slot] -= 1
        self.level_size[pod.priority] -= 1
        if pod.requests:
            totals = self.totals[node]
            for resource, amount in pod.requests.items():
                totals[resource] -= amount
            if node not in self.huge:
                level = self.levels[pod.priority]
                level[0, slot] -= 1
                for resource, amount in pod.requests.items():
                    level[self.resources[resource], slot] -= amount
        if not self.level_size[pod.priority]:
            del self.level_size[pod.priority]
            del self.levels[pod.priority]
        if not self.slot_size[slot]:
            self._free_slot(node, slot)

    def _with(self, pod: Pod) -> np.ndarray:
        """Add rows for resources not seen before; returns the pod's level array."""
        for resource in pod.requests:
            if resource not in self.resources:
                self.resources[resource] = 1 + len(self.resources)
                for priority, level in self.levels.items():
                    self.levels[priority] = np.vstack([level, np.zeros((1, level.shape[1]), dtype=np.int64)])
        return self.levels[pod.priority]

    def _new_slot(self, node: str) -> int:
        if self._free_slots:
            slot = self._free_slots.pop()
            self.slot_node[slot] = node
        else:
            slot = len(self.slot_node)
            if slot >= self._capacity:
                self._capacity *= 2
                for priority, level in self.levels.items():
                    grown = np.zeros((level.shape[0], self._capacity), dtype=np.int64)
                    grown[:, : level.shape[1]] = level
                    self.levels[priority] = grown
                rows = np.full(self._capacity, -1, dtype=np.int64)
                rows[: len(self._slot_row)] = self._slot_row
                self._slot_row = rows
            self.slot_node.append(node)
            self.slot_size.append(0)
        self.slot_of[node] = slot
        self._unresolved.add(slot)
        return slot

    def _free_slot(self, node: str, slot: int) -> None:
        del self.slot_of[node]
        self.slot_node[slot] = ""
        self.totals.pop(node, None)
        if node in self.huge:
            self.huge.discard(node)
            for level in self.levels.values():
                level[:, slot] = 0  # stale columns of a node answered exactly
        self._slot_row[slot] = -1
        self._unresolved.discard(slot)
        self._free_slots.append(slot)

    # ------------------------------------------------------------ questions
    def at(self, node: str, priority: int) -> Tuple[int, Dict[str, int]]:
        """(nominations requesting anything, per-resource sums) of priority >= `priority` on one node
        (not for `huge` nodes).  O(priority levels)."""
        slot = self.slot_of.get(node)
        if slot is None:
            return 0, {}
        column = np.zeros(1 + len(self.resources), dtype=np.int64)
        for level_priority, level in self.levels.items():
            if level_priority >= priority:
                column += level[:, slot]
        return int(column[0]), {resource: int(column[i]) for resource, i in self.resources.items()}

    def against(self, priority: int, state: ClusterState,
                minus: Iterable[Tuple[str, Pod]] = ()) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every node where nominations of priority >= `priority` (less the `minus` ones) hold room:
        (ClusterState rows, sums (1 + resources, rows) as in `levels`, which of them are `huge`)."""
        used = len(self.slot_node)
        total = np.zeros((1 + len(self.resources), used), dtype=np.int64)
        for level_priority, level in self.levels.items():
            if level_priority >= priority:
                total += level[:, :used]
        for node, pod in minus:
            slot = self.slot_of.get(node)
            if slot is None or not pod.requests or pod.priority < priority or node in self.huge:
                continue
            total[0, slot] -= 1
            for resource, amount in pod.requests.items():
                total[self.resources[resource], slot] -= amount
        slot_rows = self._rows(state)[:used]
        keep = (total[0] > 0) & (slot_rows >= 0)
        huge = np.zeros(used, dtype=bool)
        for node in self.huge:
            huge[self.slot_of[node]] = True
        keep |= huge & (slot_rows >= 0)  # answered exactly by the caller
        return slot_rows[keep], total[:, keep], huge[keep]

    def _rows(self, state: ClusterState) -> np.ndarray:
        """ClusterState row of every slot (-1: free, or its node is not known there)."""
        if self._rows_state is not state or self._rows_generation != state.node_generation:
            self._rows_state, self._rows_generation = state, state.node_generation
            self._unresolved = {slot for slot, node in enumerate(self.slot_node) if node}
            self._slot_row[:] = -1
        for slot in self._unresolved:
            self._slot_row[slot] = state.row_of.get(self.slot_node[slot], -1)
        self._unresolved.clear()
        return self._slot_row
