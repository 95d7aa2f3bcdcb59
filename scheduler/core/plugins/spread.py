"""PodTopologySpread: hard constraints (DoNotSchedule) filter, soft ones (ScheduleAnyway) score.

kube-scheduler's semantics: matching pods (same namespace, selector, not being
deleted) are counted per domain over the nodes that pass the constraint's
node-affinity and taint policies and carry the key; a node passes when the
count of its domain, plus one if the pod matches itself, minus the smallest
count over those domains (0 while fewer than `minDomains` exist) is at most
`maxSkew`.  A node without the key fails (unresolvable); a skew failure may be
resolved by evicting matching pods.  Pods of a ReplicaSet, StatefulSet or
ReplicationController that declare no constraints get the cluster-level
defaults (kube's system defaults unless configured), counting their
controller's pods.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Hashable, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import (
    ADDED,
    BUDGET_CHANGED,
    LABELS,
    NODE_CHANGED,
    POD_PLACED,
    POD_REMOVED,
    TAINTS,
    ClusterChange,
    FilterPlugin,
    ScorePlugin,
    Verdict,
    register_filter,
    register_score,
)
from scheduler.core.model import Pod, PodSelector, SpreadConstraint
from scheduler.core.plugins.affinity import node_matches
from scheduler.core.plugins.static import MaskCache
from scheduler.core.plugins.taints import first_untolerated
from scheduler.core.topology import PodScope, per_domain, spread_to_rows

MISSING_LABEL_REASON = "node(s) didn't match pod topology spread constraints (missing required label)"
SKEW_REASON = "node(s) didn't match pod topology spread constraints"
DefaultConstraint = Tuple[str, int, bool]
"""(topologyKey, maxSkew, hard) of a cluster-level default constraint."""
SYSTEM_DEFAULTS: Tuple[DefaultConstraint, ...] = (("kubernetes.io/hostname", 3, False),
                                                  ("topology.kubernetes.io/zone", 5, False))
DEFAULTED_OWNERS = frozenset({"ReplicaSet", "StatefulSet", "ReplicationController"})


class SpreadRules:
    """The constraints that apply to a pod, and the per-row sets they count over (shared by filter and score)."""

    def __init__(self, defaults: Sequence[DefaultConstraint] = SYSTEM_DEFAULTS) -> None:
        self.defaults = tuple(defaults)
        self._policy_masks = MaskCache()

    def constraints(self, pod: Pod) -> Tuple[SpreadConstraint, ...]:
        if pod.spread:
            return pod.spread
        if not (self.defaults and pod.owner_uid and pod.owner_kind in DEFAULTED_OWNERS):
            return ()
        selector = PodSelector((), pod.owner_uid)
        return tuple(SpreadConstraint(skew, key, hard, selector) for key, skew, hard in self.defaults)

    def counted_rows(self, pod: Pod, state: ClusterState, constraint: SpreadConstraint, has_key: np.ndarray) -> np.ndarray:
        rows = has_key & state.alive[: state.size]
        if constraint.honor_node_affinity and (pod.node_selector or pod.required_terms):
            rows = rows & self._policy_masks.get(state, ("affinity", pod.node_selector, pod.required_terms),
                                                 lambda node: node_matches(pod, node))
        if constraint.honor_taints:
            rows = rows & self._policy_masks.get(state, ("taints", pod.tolerations),
                                                 lambda node: first_untolerated(pod, node) is None)
        return rows

    def domain_counts(self, pod: Pod, state: ClusterState, constraint: SpreadConstraint
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(domain id per row, matching pods per domain, which domains have counted nodes)."""
        domains = state.topology.domains(state, constraint.topology_key)
        ids, count = domains
        counted = self.counted_rows(pod, state, constraint, ids >= 0)
        scope = PodScope(frozenset((pod.namespace,)), constraint.selector, skip_terminating=True)
        totals = per_domain(domains, state.topology.counts(state, scope), counted)
        present = np.bincount(ids[counted], minlength=count) > 0
        return ids, totals, present


def _violations(rules: SpreadRules, pod: Pod, state: ClusterState,
                constraints: Iterable[SpreadConstraint]) -> Tuple[np.ndarray, np.ndarray]:
    """Per row: (lacks a constraint's key, breaks a constraint's skew)."""
    missing = np.zeros(state.size, dtype=bool)
    skewed = np.zeros(state.size, dtype=bool)
    for constraint in constraints:
        ids, totals, present = rules.domain_counts(pod, state, constraint)
        domains = int(present.sum())
        smallest = totals[present].min() if domains and domains >= constraint.min_domains else 0.0
        self_match = 1 if constraint.selector.matches(pod) else 0
        skew = spread_to_rows((ids, len(totals)), totals) + self_match - smallest
        missing |= ids < 0
        skewed |= (ids >= 0) & (skew > constraint.max_skew)
    return missing, skewed


@register_filter
class PodTopologySpread(FilterPlugin):
    name = "PodTopologySpread"
    wakes_on = frozenset({POD_REMOVED, POD_PLACED, NODE_CHANGED, BUDGET_CHANGED})
    resolvable = True  # skew: evicting matching pods helps; a missing label is excluded below

    def __init__(self, rules: Optional[SpreadRules] = None) -> None:
        self.rules = rules or SpreadRules()

    def _hard(self, pod: Pod) -> List[SpreadConstraint]:
        return [c for c in self.rules.constraints(pod) if c.hard]

    def applies(self, pod: Pod) -> bool:
        return bool(self._hard(pod))

    def pod_inputs(self, pod: Pod) -> Hashable:
        """Its constraints (own, or defaults by its controller), its labels for counting itself, and its
        node affinity and tolerations for the nodes counted."""
        return (pod.namespace, frozenset(pod.labels.items()), pod.spread, pod.owner_uid, pod.owner_kind,
                pod.node_selector, pod.required_terms, pod.tolerations)

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        missing, skewed = _violations(self.rules, pod, state, self._hard(pod))
        passing: np.ndarray = ~(missing | skewed)
        return passing

    def explain(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Counter[str]:
        return _reasons(*_violations(self.rules, pod, state, self._hard(pod)), rows)

    def verdict(self, pod: Pod, state: ClusterState, remaining: np.ndarray) -> Optional[Verdict]:
        """The violations computed once for all three answers (a missing label: evicting cannot help)."""
        missing, skewed = _violations(self.rules, pod, state, self._hard(pod))
        rejected = np.flatnonzero(remaining & (missing | skewed))
        if not len(rejected):
            return None
        return rejected, _reasons(missing, skewed, rejected), rejected[~missing[rejected]]

    def helped_by(self, change: ClusterChange, pod: Pod, state: ClusterState) -> bool:
        """A matching pod placed or removed (the counts move), or node topology changing."""
        if change.kind not in self.wakes_on:
            return False
        if change.kind == NODE_CHANGED:
            return bool(change.aspects & {ADDED, LABELS, TAINTS})
        if change.kind == BUDGET_CHANGED:
            return True  # preemption may evict a matching pod now
        other = change.pod
        if other is None or change.kind not in (POD_PLACED, POD_REMOVED):
            return False
        return other.namespace == pod.namespace and any(c.selector.matches(other) for c in self._hard(pod))


def _reasons(missing: np.ndarray, skewed: np.ndarray, rows: np.ndarray) -> Counter[str]:
    missing, skewed = missing[rows], skewed[rows] & ~missing[rows]
    reasons: Counter[str] = Counter()
    if missing.any():
        reasons[MISSING_LABEL_REASON] = int(missing.sum())
    if skewed.any():
        reasons[SKEW_REASON] = int(skewed.sum())
    return reasons


@register_score
class PodTopologySpreadScore(ScorePlugin):
    """Fewer matching pods in a node's domains score higher (kube's weighting: log(domains + 2) per
    constraint, plus maxSkew - 1); nodes lacking a key score 0."""

    name = "PodTopologySpread"

    def __init__(self, rules: Optional[SpreadRules] = None) -> None:
        self.rules = rules or SpreadRules()

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        soft = [c for c in self.rules.constraints(pod) if not c.hard]
        if not soft or len(rows) < 2:
            return None
        total = np.zeros(len(rows))
        ignored = np.zeros(len(rows), dtype=bool)
        for constraint in soft:
            ids, totals, _ = self.rules.domain_counts(pod, state, constraint)
            here = ids[rows]
            ignored |= here < 0
            size = len(np.unique(here[here >= 0]))
            weight = math.log(size + 2)
            total += spread_to_rows((ids, len(totals)), totals)[rows] * weight + (constraint.max_skew - 1)
        if ignored.all():
            return None
        kept = total[~ignored]
        high, low = kept.max(), kept.min()
        scores = np.full(len(rows), 100.0) if high == 0 else 100.0 * (high + low - total) / high
        scores[ignored] = 0.0
        return None if scores.min() == scores.max() else scores
