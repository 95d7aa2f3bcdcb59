"""Nominations: room held on a node for a pod that is waiting for it.

A preemptor waits there for its victims to terminate; the most important
blocked gang holds the room its members would use.  While nominated, the
room counts as taken for every pod of equal or lower priority (the
NominatedRoom filter), so lower-priority work cannot slip into it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import FilterPlugin
from scheduler.core.model import Pod


@dataclass
class Nomination:
    pod: Pod
    node: str
    since: float
    victims: Tuple[str, ...] = ()


class Nominations:
    """Nominated preemptors, indexed by pod and by node (lookups stay cheap with many outstanding)."""

    def __init__(self) -> None:
        self.by_pod: Dict[str, Nomination] = {}
        self.by_node: Dict[str, Dict[str, Nomination]] = {}

    def add(self, nomination: Nomination) -> None:
        self.pop(nomination.pod.key)
        self.by_pod[nomination.pod.key] = nomination
        self.by_node.setdefault(nomination.node, {})[nomination.pod.key] = nomination

    def pop(self, pod_key: str) -> Optional[Nomination]:
        nomination = self.by_pod.pop(pod_key, None)
        if nomination is not None:
            on_node = self.by_node.get(nomination.node, {})
            on_node.pop(pod_key, None)
            if not on_node:
                self.by_node.pop(nomination.node, None)
        return nomination

    def get(self, pod_key: str) -> Optional[Nomination]:
        return self.by_pod.get(pod_key)

    def values(self) -> List[Nomination]:
        return list(self.by_pod.values())

    def reserved_on(self, node: str, pod: Pod, exclude: str = "") -> Dict[str, int]:
        """Requests held on `node` for nominated pods at least as important as `pod` (other than it)."""
        reserved: Dict[str, int] = {}
        for key, nomination in self.by_node.get(node, {}).items():
            if key in (pod.key, exclude) or nomination.pod.priority < pod.priority:
                continue
            if pod.gang_name and nomination.pod.gang_name == pod.gang_name:
                continue  # a gang's own held room is for its members
            for resource, amount in nomination.pod.requests.items():
                reserved[resource] = reserved.get(resource, 0) + amount
        return reserved

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



def fits_with_reservations(pod: Pod, state: ClusterState, row: int, nominations: Nominations) -> bool:
    reserved = nominations.reserved_on(state.name_of(row), pod)
    for resource, amount in pod.requests.items():
        col = state.column.get(resource)
        free = 0 if col is None else int(state.free_[col, row])
        if free - reserved.get(resource, 0) < amount:
            return False
    return True


class NominatedRoom(FilterPlugin):
    """Keeps the room made for nominated preemptors: equal or lower priority pods may not take it."""

    name = "NominatedRoom"
    resolvable = True
    default_reason = "node(s) had room reserved for a higher-priority nominated pod"

    def __init__(self, nominations: Nominations) -> None:
        self.nominations = nominations

    def applies(self, pod: Pod) -> bool:
        return bool(len(self.nominations))

    def filter_row(self, pod: Pod, state: ClusterState, row: int) -> bool:
        node = state.nodes[row]
        if node is None or not self.nominations.reserved_on(node.name, pod):
            return True
        return fits_with_reservations(pod, state, row, self.nominations)

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        mask = np.ones(state.size, dtype=bool)
        for node in self.nominations.by_node:
            row = state.row_of.get(node)
            amounts = self.nominations.reserved_on(node, pod)
            if row is None or not amounts:
                continue
            for resource, amount in pod.requests.items():
                col = state.column.get(resource)
                free = 0 if col is None else int(state.free_[col, row])
                if free - amounts.get(resource, 0) < amount:
                    mask[row] = False
                    break
        return mask


