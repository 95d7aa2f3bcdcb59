"""InterPodAffinity: required podAffinity/podAntiAffinity (and existing pods' required anti-affinity
against the incoming pod) filter; preferred terms, both ways, score.

kube-scheduler's semantics: a term selects pods in its namespaces by labels and
looks at the topology domain (nodes sharing the `topologyKey` label value) of a
node.  A node without the key never satisfies affinity and never violates
anti-affinity.  A pod whose required affinity matches no pod anywhere may still
go where its keys exist when it matches its own terms (the first of a group).
Affinity failures are unresolvable; anti-affinity ones may be resolved by
evicting the pods that cause them.
"""
from __future__ import annotations

from collections import Counter
from typing import Hashable, Optional, Sequence, Tuple

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import (
    ADDED,
    BUDGET_CHANGED,
    LABELS,
    NAMESPACE_CHANGED,
    NODE_CHANGED,
    POD_PLACED,
    POD_REMOVED,
    ClusterChange,
    FilterPlugin,
    ScorePlugin,
    Verdict,
    register_filter,
    register_score,
)
from scheduler.core.model import Pod, PodAffinityTerm
from scheduler.core.topology import (
    ANTI_PREFERRED,
    ANTI_REQUIRED,
    PREFERRED,
    REQUIRED,
    TopologyIndex,
    per_domain,
    spread_to_rows,
    term_scope,
)

AFFINITY_REASON = "node(s) didn't match pod affinity rules"
ANTI_AFFINITY_REASON = "node(s) didn't match pod anti-affinity rules"
EXISTING_ANTI_AFFINITY_REASON = "node(s) didn't satisfy existing pods anti-affinity rules"
HARD_AFFINITY_WEIGHT = 1
"""kube's hardPodAffinityWeight: an existing pod's required affinity to the incoming pod, in the score."""

Rejections = Tuple[np.ndarray, np.ndarray, np.ndarray]
"""Per node row, rejected by: the pod's affinity, the pod's anti-affinity, existing pods' anti-affinity."""


def domain_totals(state: ClusterState, counts: np.ndarray, topology_key: str) -> np.ndarray:
    """Per node row: the counted pods in its topology domain (0 where the node lacks the key)."""
    domains = state.topology.domains(state, topology_key)
    return spread_to_rows(domains, per_domain(domains, counts))


def _selected(state: ClusterState, term: PodAffinityTerm) -> np.ndarray:
    return state.topology.counts(state, term_scope(term, state.namespaces))


def _affinity_rejected(pod: Pod, state: ClusterState, terms: Sequence[PodAffinityTerm]) -> np.ndarray:
    satisfied = np.ones(state.size, dtype=bool)
    anywhere = False
    for term in terms:
        totals = domain_totals(state, _selected(state, term), term.topology_key)
        anywhere = anywhere or bool(totals.any())
        satisfied &= totals > 0
    if not anywhere and all(term.selects(pod, state.namespaces) for term in terms):
        satisfied[:] = True  # the first pod of its group: only the topology keys must exist
        for term in terms:
            satisfied &= state.topology.domains(state, term.topology_key)[0] >= 0
    return ~satisfied


def rejections(pod: Pod, state: ClusterState) -> Optional[Rejections]:
    """None when no rule applies to the pod (no terms of its own, none of existing pods against it)."""
    n = state.size
    existing = None
    for key in state.topology.holders_of(ANTI_REQUIRED):
        term = key[1]
        if term.selects(pod, state.namespaces):
            occupied = domain_totals(state, state.topology.holder_counts(key, n), term.topology_key) > 0
            existing = occupied if existing is None else existing | occupied
    affinity = pod.pod_affinity
    if existing is None and affinity is None:
        return None
    none = np.zeros(n, dtype=bool)
    anti = none
    if affinity is not None:
        for term in affinity.anti_required:
            anti = anti | (domain_totals(state, _selected(state, term), term.topology_key) > 0)
    rejected_by_affinity = _affinity_rejected(pod, state, affinity.required) if affinity and affinity.required else none
    return rejected_by_affinity, anti, none if existing is None else existing


@register_filter
class InterPodAffinity(FilterPlugin):
    name = "InterPodAffinity"
    wakes_on = frozenset({POD_REMOVED, POD_PLACED, NODE_CHANGED, BUDGET_CHANGED, NAMESPACE_CHANGED})
    resolvable = True  # anti-affinity: evicting the matching pods helps (affinity rows are excluded below)

    def __init__(self) -> None:
        self._index: Optional[TopologyIndex] = None

    def attach(self, state: ClusterState) -> None:
        self._index = state.topology

    def applies(self, pod: Pod) -> bool:
        """Terms of its own, or an existing pod's required anti-affinity somewhere (which may select it)."""
        return pod.pod_affinity is not None or self._index is None or self._index.kinds_held[ANTI_REQUIRED] > 0

    def pod_inputs(self, pod: Pod) -> Hashable:
        """Its terms, and what other pods' terms select it by."""
        return pod.namespace, frozenset(pod.labels.items()), pod.owner_uid, pod.pod_affinity

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        found = rejections(pod, state)
        if found is None:
            return np.ones(state.size, dtype=bool)
        affinity, anti, existing = found
        return ~(affinity | anti | existing)

    def explain(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Counter[str]:
        found = rejections(pod, state)
        return Counter() if found is None else _reasons(found, rows)

    def verdict(self, pod: Pod, state: ClusterState, remaining: np.ndarray) -> Optional[Verdict]:
        """The rejections computed once for all three answers (affinity rows: evicting cannot help)."""
        found = rejections(pod, state)
        if found is None:
            return None
        affinity, anti, existing = found
        rejected = np.flatnonzero(remaining & (affinity | anti | existing))
        if not len(rejected):
            return None
        return rejected, _reasons(found, rejected), rejected[~affinity[rejected]]

    def helped_by(self, change: ClusterChange, pod: Pod, state: ClusterState) -> bool:
        """A pod it must be near arriving; one it must avoid (or that avoids it) leaving; topology labels changing."""
        if change.kind not in self.wakes_on:
            return False
        other = change.pod
        if change.kind == NODE_CHANGED:
            return bool(change.aspects & {ADDED, LABELS})
        if change.kind in (NAMESPACE_CHANGED, BUDGET_CHANGED):
            return True  # namespaceSelector scope; a budget that lets preemption evict what is in the way
        if other is None or change.kind not in (POD_PLACED, POD_REMOVED):
            return False
        own = pod.pod_affinity
        if change.kind == POD_PLACED:
            return own is not None and any(term.selects(other, state.namespaces) for term in own.required)
        if own is not None and any(term.selects(other, state.namespaces) for term in own.anti_required):
            return True
        theirs = other.pod_affinity
        return theirs is not None and any(term.selects(pod, state.namespaces) for term in theirs.anti_required)


def _reasons(found: Rejections, rows: np.ndarray) -> Counter[str]:
    affinity, anti, existing = (mask[rows] for mask in found)
    reasons: Counter[str] = Counter()
    for reason, hit in ((AFFINITY_REASON, affinity), (ANTI_AFFINITY_REASON, anti & ~affinity),
                        (EXISTING_ANTI_AFFINITY_REASON, existing & ~anti & ~affinity)):
        if hit.any():
            reasons[reason] = int(hit.sum())
    return reasons


@register_score
class InterPodAffinityScore(ScorePlugin):
    """Preferred terms of the pod, and existing pods' preferred (and required affinity) terms that
    select it, add or take their weight on every node of the domains involved; scaled to 0..100."""

    name = "InterPodAffinity"

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        if pod.pod_affinity is None and not state.topology.holders:
            return None
        n = state.size
        total = np.zeros(n)
        said = False
        affinity = pod.pod_affinity
        if affinity is not None:
            for terms, sign in ((affinity.preferred, 1), (affinity.anti_preferred, -1)):
                for term in terms:
                    total += sign * term.weight * domain_totals(state, _selected(state, term), term.topology_key)
                    said = True
        for kind, sign in ((PREFERRED, 1), (ANTI_PREFERRED, -1), (REQUIRED, 1)):
            for key in state.topology.holders_of(kind):
                term = key[1]
                if term.selects(pod, state.namespaces):
                    weight = term.weight if kind != REQUIRED else HARD_AFFINITY_WEIGHT
                    total += sign * weight * domain_totals(state, state.topology.holder_counts(key, n),
                                                           term.topology_key)
                    said = True
        if not said:
            return None
        picked: np.ndarray = total[rows]
        low, high = (float(picked.min()), float(picked.max())) if len(picked) else (0.0, 0.0)
        if high == low:
            return None
        scaled: np.ndarray = (picked - low) * 100.0 / (high - low)
        return scaled
