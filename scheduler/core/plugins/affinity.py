"""NodeAffinity: nodeSelector and required node affinity filter; preferred affinity scores."""
from __future__ import annotations

from typing import Hashable, Optional

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import ADDED, LABELS, NODE_CHANGED, FilterPlugin, ScorePlugin, register_filter, register_score
from scheduler.core.model import Node, Pod, term_matches
from scheduler.core.plugins.static import MaskCache


def node_matches(pod: Pod, node: Node) -> bool:
    labels = node.labels
    if any(labels.get(key) != value for key, value in pod.node_selector):
        return False
    # kube: terms are ORed, and an empty term (no expressions, no fields) matches no node
    if pod.required_terms and not any(term and term_matches(term, labels) for term in pod.required_terms):
        return False
    return True


@register_filter
class NodeAffinity(FilterPlugin):
    name = "NodeAffinity"
    static = True
    wakes_on = frozenset({NODE_CHANGED})
    node_aspects = frozenset({ADDED, LABELS})
    default_reason = "node(s) didn't match Pod's node affinity/selector"

    def __init__(self) -> None:
        self._cache = MaskCache()

    def applies(self, pod: Pod) -> bool:
        return bool(pod.node_selector or pod.required_terms)

    def pod_inputs(self, pod: Pod) -> Hashable:
        return pod.node_selector, pod.required_terms

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        key = (pod.node_selector, pod.required_terms)
        return self._cache.get(state, key, lambda node: node_matches(pod, node))


@register_score
class PreferredAffinity(ScorePlugin):
    """Sum of the weights of matching preferred terms, scaled so the best node gets 100."""

    name = "NodeAffinity"

    def __init__(self) -> None:
        self._cache = MaskCache()

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        if not pod.preferred_terms:
            return None
        sums = self._cache.vector(
            state, pod.preferred_terms,
            lambda node: sum(w for w, term in pod.preferred_terms if term_matches(term, node.labels)),
        )
        if sums is None:
            return None
        picked: np.ndarray = sums[rows]
        best = picked.max() if len(picked) else 0
        if best <= 0:
            return None
        return picked * 100.0 / best
