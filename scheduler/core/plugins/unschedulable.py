"""NodeUnschedulable and NodeReady: cordoned or not-Ready nodes take no new pods."""
from __future__ import annotations

from typing import Hashable

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import ADDED, NODE_CHANGED, SCHEDULABLE, FilterPlugin, register_filter
from scheduler.core.model import Pod, Taint
from scheduler.core.plugins.static import MaskCache

UNSCHEDULABLE_TAINT = Taint("node.kubernetes.io/unschedulable", "", "NoSchedule")
NOT_READY_TAINT = Taint("node.kubernetes.io/not-ready", "", "NoSchedule")


def _tolerates(pod: Pod, taint: Taint) -> bool:
    return any(t.tolerates(taint) for t in pod.tolerations)


@register_filter
class NodeUnschedulable(FilterPlugin):
    name = "NodeUnschedulable"
    wakes_on = frozenset({NODE_CHANGED})
    node_aspects = frozenset({ADDED, SCHEDULABLE})
    static = True
    default_reason = "node(s) were unschedulable"

    def __init__(self) -> None:
        self._cache = MaskCache()

    def pod_inputs(self, pod: Pod) -> Hashable:
        return pod.tolerations

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        tolerated = _tolerates(pod, UNSCHEDULABLE_TAINT)
        return self._cache.get(state, tolerated, lambda node: tolerated or not node.unschedulable)


@register_filter
class NodeReady(FilterPlugin):
    name = "NodeReady"
    wakes_on = frozenset({NODE_CHANGED})
    node_aspects = frozenset({ADDED, SCHEDULABLE})
    static = True
    default_reason = "node(s) were not ready"

    def __init__(self) -> None:
        self._cache = MaskCache()

    def pod_inputs(self, pod: Pod) -> Hashable:
        return pod.tolerations

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        tolerated = _tolerates(pod, NOT_READY_TAINT)
        return self._cache.get(state, tolerated, lambda node: tolerated or node.ready)
