"""NodeResourcesFit: every requested resource (and one pod slot) must be free on the node."""
from __future__ import annotations

from collections import Counter

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import ADDED, ALLOCATABLE, BUDGET_CHANGED, NODE_CHANGED, POD_REMOVED, FilterPlugin, register_filter
from scheduler.core.model import PODS, Pod


def insufficient_reason(resource: str) -> str:
    return "Too many pods" if resource == PODS else f"Insufficient {resource}"


@register_filter
class ResourceFit(FilterPlugin):
    name = "NodeResourcesFit"
    wakes_on = frozenset({POD_REMOVED, NODE_CHANGED, BUDGET_CHANGED})
    node_aspects = frozenset({ADDED, ALLOCATABLE})
    resolvable = True

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

    def filter_row(self, pod: Pod, state: ClusterState, row: int) -> bool:
        for resource, amount in pod.requests.items():
            col = state.column.get(resource)
            if col is None or int(state.free_[col, row]) < amount:
                return False
        return True

    def explain(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Counter[str]:
        reasons: Counter[str] = Counter()
        for resource, amount in pod.requests.items():
            short = int((state.free(resource)[rows] < amount).sum())
            if short:
                reasons[insufficient_reason(resource)] += short
        return reasons
