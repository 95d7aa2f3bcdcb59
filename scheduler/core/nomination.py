"""Nominations: room held on a node for a pod that is waiting for it.

A preemptor waits there for its victims to terminate; the most important
blocked gang holds the room its members would use.  While nominated, the
room counts as taken for every pod of equal or lower priority (the
NominatedRoom filter), so lower-priority work cannot slip into it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, Hashable, Iterable, List, NamedTuple, Optional, Tuple

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.columns import INT64_MAX
from scheduler.core.framework import FilterPlugin
from scheduler.core.held_room import HeldRoom
from scheduler.core.model import Pod


@dataclass
class Nomination:
    pod: Pod
    node: str
    since: float
    victims: Tuple[str, ...] = ()


class Held(NamedTuple):
    """Room held against one pod on every node where nominated pods it must respect wait."""

    rows: np.ndarray  # ClusterState rows
    amounts: Dict[str, np.ndarray]  # resource -> room held on each of those rows (capped at INT64_MAX)
    exact: Dict[int, Dict[str, int]]  # rows whose sums are too large for int64: the exact amounts


class Nominations:
    """Nominated preemptors, indexed by pod, by node and by gang, with the room they hold summed per
    node and priority (`room`): what is held against a pod is a few vector sums, never a walk over
    every nomination."""

    def __init__(self) -> None:
        self.by_pod: Dict[str, Nomination] = {}
        self.by_node: Dict[str, Dict[str, Nomination]] = {}
        self.by_gang: Dict[str, Dict[str, Nomination]] = {}
        self.room = HeldRoom()
        self.version = 0  # bumps on every change: `held_against` answers once per pod and version
        self._last: Tuple[Tuple[object, ...], Optional[Held]] = ((), None)

    def add(self, nomination: Nomination) -> None:
        key, gang = nomination.pod.key, nomination.pod.gang_name
        self.pop(key)
        self.by_pod[key] = nomination
        self.by_node.setdefault(nomination.node, {})[key] = nomination
        if gang:
            self.by_gang.setdefault(gang, {})[key] = nomination
        self.room.add(nomination.node, nomination.pod)
        self.version += 1

    def pop(self, pod_key: str) -> Optional[Nomination]:
        nomination = self.by_pod.pop(pod_key, None)
        if nomination is not None:
            for index, name in ((self.by_node, nomination.node), (self.by_gang, nomination.pod.gang_name)):
                held = index.get(name)
                if held is not None:
                    held.pop(pod_key, None)
                    if not held:
                        del index[name]
            self.room.remove(nomination.node, nomination.pod)
            self.version += 1
        return nomination

    def get(self, pod_key: str) -> Optional[Nomination]:
        return self.by_pod.get(pod_key)

    def values(self) -> List[Nomination]:
        return list(self.by_pod.values())

    def of_gang(self, gang_name: str) -> List[Nomination]:
        return list(self.by_gang.get(gang_name, {}).values())

    def _not_held_against(self, pod: Pod, exclude: str, node: str = "") -> Iterable[Nomination]:
        """Nominations that hold no room against `pod` whatever their priority: its own, `exclude`'s, and
        a gang's own (its held room is for its members); only those on `node`, if given."""
        found: Dict[str, Nomination] = {}
        for key in (pod.key, exclude):
            nomination = self.by_pod.get(key) if key else None
            if nomination is not None:
                found[key] = nomination
        if pod.gang_name:
            mates = self.by_gang.get(pod.gang_name, {})
            on_node = self.by_node.get(node, {}) if node else mates
            smaller = mates if len(mates) <= len(on_node) else on_node
            found.update((k, n) for k, n in smaller.items() if n.pod.gang_name == pod.gang_name)
        return [n for n in found.values() if not node or n.node == node]

    def reserved_on(self, node: str, pod: Pod, exclude: str = "") -> Dict[str, int]:
        """Requests held on `node` for nominated pods at least as important as `pod` (other than it);
        empty when none holds anything (a resource may be listed with 0).  O(priority levels)."""
        if node not in self.by_node:
            return {}
        if node in self.room.huge:
            return _summed(self.by_node[node].values(), pod, exclude)
        count, reserved = self.room.at(node, pod.priority)
        for nomination in self._not_held_against(pod, exclude, node):
            if nomination.pod.priority >= pod.priority and nomination.pod.requests:
                count -= 1
                for resource, amount in nomination.pod.requests.items():
                    reserved[resource] -= amount
        return reserved if count > 0 else {}

    def held_against(self, pod: Pod, state: ClusterState, exclude: str = "") -> Held:
        """`reserved_on` for every node at once, as vectors over the rows where something is held
        (remembered for the last pod asked: a decision asks for the same pod several times)."""
        key = (self.version, state, state.node_generation, pod.key, pod.priority, pod.gang_name, exclude)
        if self._last[0] == key and self._last[1] is not None:
            return self._last[1]
        held = self._held_against(pod, state, exclude)
        self._last = (key, held)
        return held

    def _held_against(self, pod: Pod, state: ClusterState, exclude: str) -> Held:
        mates = [(n.node, n.pod) for n in self._not_held_against(pod, exclude)]
        rows, sums, huge = self.room.against(pod.priority, state, mates)
        exact: Dict[int, Dict[str, int]] = {}
        if huge.any():
            keep = ~huge
            for i in np.flatnonzero(huge):
                row = int(rows[i])
                amounts = _summed(self.by_node.get(state.name_of(row), {}).values(), pod, exclude)
                if amounts:
                    keep[i] = True
                    exact[row] = amounts
                    for resource, r in self.room.resources.items():
                        sums[r, i] = min(amounts.get(resource, 0), INT64_MAX)
            rows, sums = rows[keep], sums[:, keep]
        return Held(rows, {resource: sums[r] for resource, r in self.room.resources.items()}, exact)

    def __len__(self) -> int:
        return len(self.by_pod)

    def stale(self, state: ClusterState, now: float, timeout: float,
              still_terminating: Callable[[Nomination], bool] = lambda n: False) -> List[Nomination]:
        """Remove and return nominations whose node is gone, or that waited longer than `timeout` while
        nothing is leaving their node any more (victims still terminating: the room is on its way)."""
        stale = [n for n in self.by_pod.values()
                 if state.node(n.node) is None or (now - n.since > timeout and not still_terminating(n))]
        for nomination in stale:
            self.pop(nomination.pod.key)
        return stale

    def displaced_by(self, pod: Pod, state: ClusterState) -> List[Nomination]:
        """Remove and return lower-priority nominations on pod's node that no longer fit after it took room."""
        node = pod.node_name
        placed = state.placed.get(pod.key)
        on_row = state.nodes[placed.row] if placed is not None else None
        if on_row is not None:
            node = on_row.name
        row = state.row_of.get(node)
        displaced: List[Nomination] = []
        for nomination in list(self.by_node.get(node, {}).values()):
            if nomination.pod.key == pod.key or nomination.pod.priority >= pod.priority:
                continue
            if row is None or not fits_with_reservations(nomination.pod, state, row, self):
                removed = self.pop(nomination.pod.key)
                if removed is not None:
                    displaced.append(removed)
        return displaced



def _summed(nominations: Iterable[Nomination], pod: Pod, exclude: str) -> Dict[str, int]:
    """The room these nominations hold against `pod`, summed one by one (exact, for any size)."""
    reserved: Dict[str, int] = {}
    for nomination in nominations:
        if nomination.pod.key in (pod.key, exclude) or nomination.pod.priority < pod.priority:
            continue
        if pod.gang_name and nomination.pod.gang_name == pod.gang_name:
            continue  # a gang's own held room is for its members
        for resource, amount in nomination.pod.requests.items():
            reserved[resource] = reserved.get(resource, 0) + amount
    return reserved


def _fits(pod: Pod, state: ClusterState, row: int, reserved: Dict[str, int]) -> bool:
    for resource, amount in pod.requests.items():
        col = state.column.get(resource)
        free = 0 if col is None else int(state.free_[col, row])
        if free - reserved.get(resource, 0) < amount:
            return False
    return True


def fits_with_reservations(pod: Pod, state: ClusterState, row: int, nominations: Nominations) -> bool:
    return _fits(pod, state, row, nominations.reserved_on(state.name_of(row), pod))


class NominatedRoom(FilterPlugin):
    """Keeps the room made for nominated preemptors: equal or lower priority pods may not take it."""

    name = "NominatedRoom"
    resolvable = True
    default_reason = "node(s) had room reserved for a higher-priority nominated pod"

    def __init__(self, nominations: Nominations) -> None:
        self.nominations = nominations

    def applies(self, pod: Pod) -> bool:
        return bool(len(self.nominations))

    def pod_inputs(self, pod: Pod) -> Hashable:
        """What is held against it depends on its priority and gang, and on its own nomination if it has one."""
        own = pod.key if pod.key in self.nominations.by_pod else ""
        return pod.priority, pod.gang_name, tuple(pod.requests.items()), own

    def outside_inputs(self, state: ClusterState) -> Hashable:
        return self.nominations.version

    def filter_row(self, pod: Pod, state: ClusterState, row: int) -> bool:
        node = state.nodes[row]
        if node is None:
            return True
        reserved = self.nominations.reserved_on(node.name, pod)
        return not reserved or _fits(pod, state, row, reserved)

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        mask = np.ones(state.size, dtype=bool)
        held = self.nominations.held_against(pod, state)
        if not len(held.rows):
            return mask
        rejected = np.zeros(len(held.rows), dtype=bool)
        for resource, amount in pod.requests.items():
            col = state.column.get(resource)
            free = state.free_[col, held.rows] if col is not None else np.zeros(len(held.rows), dtype=np.int64)
            reserved = held.amounts.get(resource)
            # free >= 0 and reserved <= SAFE_TOTAL: the difference cannot wrap (and free < 0 never fits)
            rejected |= (free < amount) if reserved is None else (free < 0) | (free - reserved < amount)
        mask[held.rows[rejected]] = False
        for row, exact in held.exact.items():
            mask[row] = _fits(pod, state, row, exact)
        return mask
