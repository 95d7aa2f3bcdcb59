"""TaintToleration: NoSchedule/NoExecute taints must be tolerated; PreferNoSchedule lowers the score."""
from __future__ import annotations

from collections import Counter
from typing import Dict, Hashable, List, Optional

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import ADDED, NODE_CHANGED, TAINTS, FilterPlugin, ScorePlugin, register_filter, register_score
from scheduler.core.model import Node, Pod, Taint
from scheduler.core.plugins.static import MaskCache

HARD_EFFECTS = ("NoSchedule", "NoExecute")


def first_untolerated(pod: Pod, node: Node) -> Optional[Taint]:
    for taint in node.taints:
        if taint.effect in HARD_EFFECTS and not any(t.tolerates(taint) for t in pod.tolerations):
            return taint
    return None


def intolerable_preferences(pod: Pod, node: Node) -> int:
    return sum(
        1
        for taint in node.taints
        if taint.effect == "PreferNoSchedule" and not any(t.tolerates(taint) for t in pod.tolerations)
    )


@register_filter
class TaintToleration(FilterPlugin):
    name = "TaintToleration"
    static = True
    wakes_on = frozenset({NODE_CHANGED})
    node_aspects = frozenset({ADDED, TAINTS})

    def __init__(self) -> None:
        self._cache = MaskCache()
        self._taints: List[Taint] = []  # taint id - 1 -> taint (ids are 1-based: 0 means tolerated)
        self._taint_ids: Dict[Taint, int] = {}

    def pod_inputs(self, pod: Pod) -> Hashable:
        return pod.tolerations

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        return self._cache.get(state, pod.tolerations, lambda node: first_untolerated(pod, node) is None)

    def explain(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Counter[str]:
        """Counted with numpy: per row the id of its first untolerated taint, cached per tolerations like the mask."""
        ids = self._cache.vector(state, ("first-untolerated", pod.tolerations), lambda node: self._taint_id(pod, node))
        reasons: Counter[str] = Counter()
        if ids is None or not len(rows):
            return reasons
        for taint_id, count in enumerate(np.bincount(ids[rows].astype(np.int64))):
            if taint_id and count:
                reasons[f"node(s) had untolerated taint {self._taints[taint_id - 1]}"] += int(count)
        return reasons

    def _taint_id(self, pod: Pod, node: Node) -> int:
        taint = first_untolerated(pod, node)
        if taint is None:
            return 0
        known = self._taint_ids.get(taint)
        if known is None:
            self._taints.append(taint)
            known = self._taint_ids[taint] = len(self._taints)
        return known


@register_score
class TaintPreference(ScorePlugin):
    """Fewer untolerated PreferNoSchedule taints score higher (kube's TaintToleration score)."""

    name = "TaintToleration"

    def __init__(self) -> None:
        self._cache = MaskCache()

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        counts = self._cache.vector(state, pod.tolerations, lambda node: intolerable_preferences(pod, node))
        if counts is None:
            return None
        picked: np.ndarray = counts[rows]
        worst = picked.max() if len(picked) else 0
        if not worst:
            return None
        return 100.0 - picked * 100.0 / worst
