"""NodeResourcesFit: every requested resource (and one pod slot) must be free on the node."""
from __future__ import annotations

from collections import Counter
from typing import Hashable

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import (
    ADDED,
    ALLOCATABLE,
    BUDGET_CHANGED,
    NODE_CHANGED,
    POD_REMOVED,
    ClusterChange,
    FilterPlugin,
    register_filter,
)
from scheduler.core.model import PODS, Pod


def insufficient_reason(resource: str) -> str:
    return "Too many pods" if resource == PODS else f"Insufficient {resource}"


@register_filter
class ResourceFit(FilterPlugin):
    name = "NodeResourcesFit"
    wakes_on = frozenset({POD_REMOVED, NODE_CHANGED, BUDGET_CHANGED})
    node_aspects = frozenset({ADDED, ALLOCATABLE})
    resolvable = True

    def pod_inputs(self, pod: Pod) -> Hashable:
        return tuple(pod.requests.items())

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        n = state.size
        mask = None
        for resource, amount in pod.requests.items():
            col = state.column.get(resource)
            if col is None:
                return np.zeros(n, dtype=bool)  # no node offers this resource at all
            ok = state.free_[col, :n] >= amount
            mask = ok if mask is None else (mask & ok)
        return np.ones(n, dtype=bool) if mask is None else mask

    def helped_by(self, change: ClusterChange, pod: Pod, state: ClusterState) -> bool:
        """Besides new room on a node, a pod leaving helps only from a node big enough for this pod at all
        (kube's hint: a pod short of GPUs does not wake when a pod leaves a node without any)."""
        if change.kind != POD_REMOVED or not change.node:
            return super().helped_by(change, pod, state)
        node = state.node(change.node)
        return node is not None and all(node.allocatable.get(name, 0) >= amount for name, amount in pod.requests.items())

    def filter_row(self, pod: Pod, state: ClusterState, row: int) -> bool:
        for resource, amount in pod.requests.items():
            col = state.column.get(resource)
            if col is None or int(state.free_[col, row]) < amount:
                return False
        return True

    def resolvable_rows(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> np.ndarray:
        """Only nodes big enough for the pod at all: evicting every pod from a smaller one would not help."""
        big_enough = np.ones(len(rows), dtype=bool)
        for resource, amount in pod.requests.items():
            col = state.column.get(resource)
            if col is None:
                return rows[:0]
            big_enough &= state.allocatable[col, rows] >= amount
        helped: np.ndarray = rows[big_enough]
        return helped

    def explain(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Counter[str]:
        reasons: Counter[str] = Counter()
        for resource, amount in pod.requests.items():
            short = int((state.free(resource)[rows] < amount).sum())
            if short:
                reasons[insufficient_reason(resource)] += short
        return reasons
