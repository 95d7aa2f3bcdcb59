"""Who is where, per node and per topology domain, for InterPodAffinity and PodTopologySpread.

Two kinds of per-node counts are kept current as the ClusterState places, forgets
and lifts pods (preemption's what-if moves them too), so the plugins read numpy
vectors instead of scanning pods for every pod they schedule:

* selector counts: placed pods a (namespaces, selector) picks on each node; built
  on first use from the pods on the nodes, then updated per pod (least recently
  used ones are dropped beyond `MAX_SELECTORS`);
* term holders: placed pods holding each distinct affinity term, for the rules
  that run the other way round (an existing pod's required anti-affinity against
  the incoming pod, and existing pods' terms in the score).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, FrozenSet, Iterable, Iterator, Mapping, Optional, Tuple

import numpy as np

from scheduler.core.columns import resized
from scheduler.core.lru import Lru
from scheduler.core.model import Pod, PodAffinityTerm, PodSelector

if TYPE_CHECKING:
    from scheduler.core.cache import ClusterState

MAX_SELECTORS = 256
REQUIRED, PREFERRED, ANTI_REQUIRED, ANTI_PREFERRED = "required", "preferred", "anti_required", "anti_preferred"
TERM_KINDS = (REQUIRED, PREFERRED, ANTI_REQUIRED, ANTI_PREFERRED)

HolderKey = Tuple[str, PodAffinityTerm]
"""(kind, term): the pods holding this exact term."""


@dataclass(frozen=True)
class PodScope:
    """Pods to count: in these namespaces (None: every namespace), picked by the selector."""

    namespaces: Optional[FrozenSet[str]]
    selector: PodSelector
    skip_terminating: bool = False  # PodTopologySpread does not count pods being deleted

    def picks(self, pod: Pod) -> bool:
        if self.namespaces is not None and pod.namespace not in self.namespaces:
            return False
        if self.skip_terminating and pod.deleting:
            return False
        return self.selector.matches(pod)


def term_scope(term: PodAffinityTerm, namespace_labels: Mapping[str, Mapping[str, str]]) -> PodScope:
    """The namespaces a term covers now: its names, plus those its namespaceSelector picks."""
    if term.namespace_selector is None:
        return PodScope(term.namespaces, term.selector)
    if not term.namespace_selector:
        return PodScope(None, term.selector)  # `{}`: every namespace
    picked = {name for name in namespace_labels if term.in_scope(name, namespace_labels)}
    return PodScope(frozenset(picked | term.namespaces), term.selector)


class TopologyIndex:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._counts: Lru[PodScope, np.ndarray] = Lru(MAX_SELECTORS)
        # rows -> pods holding each distinct term (sparse: tenants choose how many distinct terms exist), and
        # per-node vectors of the recently used ones (kept current like the selector counts)
        self.holders: Dict[HolderKey, Dict[int, int]] = {}
        self._dense: Lru[HolderKey, np.ndarray] = Lru(MAX_SELECTORS)
        self.kinds_held: Dict[str, int] = dict.fromkeys(TERM_KINDS, 0)  # distinct terms held, per kind
        self._domains: Lru[str, _Domains] = Lru(MAX_SELECTORS)  # recently used topology keys (tenants pick them)
        self._domains_of = -1  # the node generation the domains are current for

    def grow(self, rows: int) -> None:
        self._capacity = rows
        self._counts.replace_values(lambda counts: resized(counts, rows))
        self._dense.replace_values(lambda dense: resized(dense, rows))

    # ------------------------------------------------------------ pods come and go
    def moved(self, pod: Pod, row: int, sign: int) -> None:
        """A pod was placed on (+1) or taken off (-1) a node row."""
        for scope, counts in self._counts.items():
            if scope.picks(pod):
                counts[row] += sign
        if pod.pod_affinity is not None:
            for key in _held_terms(pod):
                self._hold(key, row, sign)

    def _hold(self, key: HolderKey, row: int, sign: int) -> None:
        rows = self.holders.get(key)
        if rows is None:
            rows = self.holders[key] = {}
            self.kinds_held[key[0]] += 1
        here = rows.get(row, 0) + sign
        if here:
            rows[row] = here
        else:
            rows.pop(row, None)
        dense = self._dense.peek(key)
        if dense is not None:
            dense[row] += sign
        if not rows:  # no placed pod holds the term any more
            del self.holders[key]
            self._dense.pop(key)
            self.kinds_held[key[0]] -= 1

    def holders_of(self, kind: str) -> Iterator[HolderKey]:
        return (key for key in self.holders if key[0] == kind)

    def holder_counts(self, key: HolderKey, size: int) -> np.ndarray:
        """Per node row: placed pods holding this term (a view: do not modify)."""
        def build() -> np.ndarray:
            dense = np.zeros(self._capacity, dtype=np.int32)
            for row, count in self.holders.get(key, {}).items():
                dense[row] = count
            return dense

        return self._dense.get_or_build(key, build)[:size]

    # ------------------------------------------------------------ reading
    def counts(self, state: ClusterState, scope: PodScope) -> np.ndarray:
        """Per node row: placed pods the scope picks (a view: do not modify)."""
        def build() -> np.ndarray:
            counts = np.zeros(self._capacity, dtype=np.int32)
            for row, on_node in enumerate(state.pods_on):
                counts[row] = sum(1 for placed in on_node.values() if scope.picks(placed.pod))
            return counts

        return self._counts.get_or_build(scope, build)[: state.size]

    def domains(self, state: ClusterState, topology_key: str) -> Tuple[np.ndarray, int]:
        """Per node row the id of its domain for the key (-1: dead, or no such label), and how many ids.
        A node change recomputes that node's row (ids of values no node has any more stay, unused)."""
        if state.node_generation != self._domains_of:
            rows = state.rows_changed_since(self._domains_of) if self._domains_of >= 0 else None
            if rows is None:
                self._domains.clear()
            else:
                for domains in self._domains.values():
                    domains.refresh(state, rows)
            self._domains_of = state.node_generation
        def build() -> _Domains:
            domains = _Domains(topology_key)
            domains.refresh(state, range(state.size))
            return domains

        found = self._domains.get_or_build(topology_key, build)
        return found.ids[: state.size], len(found.values)


class _Domains:
    """One topology key: each node row's domain id, and the label value of each id."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.values: Dict[str, int] = {}
        self.ids = np.zeros(0, dtype=np.int64)

    def refresh(self, state: ClusterState, rows: Iterable[int]) -> None:
        if len(self.ids) < state.size:
            self.ids = resized(self.ids, state.size, fill=-1)
        for row in rows:
            node = state.nodes[row] if row < state.size else None
            value = None if node is None else node.labels.get(self.key)
            self.ids[row] = -1 if value is None else self.values.setdefault(value, len(self.values))


def _held_terms(pod: Pod) -> Iterator[HolderKey]:
    affinity = pod.pod_affinity
    if affinity is None:
        return
    for kind in TERM_KINDS:
        for term in getattr(affinity, kind):
            yield kind, term


def per_domain(domains: Tuple[np.ndarray, int], values: np.ndarray, rows: Optional[np.ndarray] = None) -> np.ndarray:
    """Sum of `values` over the node rows of each domain (only rows where `rows` is True, when given)."""
    ids, count = domains
    keep = ids >= 0 if rows is None else (ids >= 0) & rows
    return np.bincount(ids[keep], weights=values[keep], minlength=count)


def spread_to_rows(domains: Tuple[np.ndarray, int], totals: np.ndarray) -> np.ndarray:
    """Each row's domain total (0 for rows without the label)."""
    ids, _ = domains
    if not len(totals):
        return np.zeros(len(ids))
    return np.where(ids >= 0, totals[np.maximum(ids, 0)], 0.0)
