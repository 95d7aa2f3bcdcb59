"""UnsupportedFields: a pod that uses a placement feature this scheduler does not honour fits nowhere.

Placing it while ignoring the field would be a silent violation; refusing says
why (unresolvable: preemption cannot help), and the pod waits for its owner to
move it to a scheduler that supports the field.
"""
from __future__ import annotations

from collections import Counter
from typing import Hashable

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import FilterPlugin, register_filter
from scheduler.core.model import Pod


@register_filter
class UnsupportedFields(FilterPlugin):
    name = "UnsupportedFields"
    wakes_on = frozenset()
    node_aspects = frozenset()

    def applies(self, pod: Pod) -> bool:
        return bool(pod.unsupported)

    def pod_inputs(self, pod: Pod) -> Hashable:
        return pod.unsupported

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        return np.zeros(state.size, dtype=bool)

    def explain(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Counter[str]:
        fields = ", ".join(pod.unsupported)
        return Counter({f"pod uses {fields}, which preemptive-scheduler does not support (use the default scheduler)":
                        int(len(rows))})
