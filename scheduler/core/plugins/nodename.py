"""NodeName: a pod that names its node (spec.nodeName, or `plan --node`) fits only there."""
from __future__ import annotations

from typing import Hashable

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import ADDED, NODE_CHANGED, FilterPlugin, register_filter
from scheduler.core.model import Pod


@register_filter
class NodeName(FilterPlugin):
    name = "NodeName"
    wakes_on = frozenset({NODE_CHANGED})
    node_aspects = frozenset({ADDED})
    static = True
    default_reason = "node(s) didn't match the requested node name"

    def applies(self, pod: Pod) -> bool:
        return bool(pod.node_name)

    def pod_inputs(self, pod: Pod) -> Hashable:
        return pod.node_name

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        mask = np.zeros(state.size, dtype=bool)
        row = state.row_of.get(pod.node_name)
        if row is not None:
            mask[row] = True
        return mask
