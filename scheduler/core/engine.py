"""The scheduling engine: filter, score, choose — and hand failures to preemption.

The engine is pure: it reads a ClusterState and returns Decisions; `assume`
is the only method that changes the state.  The daemon, the simulator and
`plan` all drive this same class.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Hashable, List, Optional, Sequence, Tuple

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.columns import resized
from scheduler.core.framework import Diagnosis, FilterPlugin, Profile, diagnose, diagnosis_key
from scheduler.core.lru import MAX_SHAPES, Lru
from scheduler.core.model import Pod

MIN_NODES_TO_SCORE = 100


@dataclass
class Decision:
    """The outcome for one pod: bind to `node`, or not (with kube-style `message`)."""

    pod: Pod
    node: Optional[str] = None
    message: str = ""
    status: str = ""
    victims: List[Pod] = field(default_factory=list)
    nominated_node: str = ""
    diagnosis: Optional[Diagnosis] = None

    @property
    def scheduled(self) -> bool:
        return self.node is not None


class Engine:
    """Runs the profile's plugins over the state's node columns."""

    def __init__(self, state: ClusterState, profile: Profile, clock: Callable[[], float],
                 extra_filters: Sequence[FilterPlugin] = (), percentage_to_score: int = 100) -> None:
        self.state = state
        self.percentage_to_score = percentage_to_score  # 0: adaptive, as kube's percentageOfNodesToScore
        self._next_start = 0  # where the next sample of feasible nodes starts (rotates over the cluster)
        self.profile = profile
        self.clock = clock
        self.static_filters = [f for f in profile.filters if f.static]
        self.dynamic_filters = [f for f in profile.filters if not f.static]
        self.extra_filters: Tuple[FilterPlugin, ...] = tuple(extra_filters)  # e.g. the room held for nominated pods
        self.all_filters: Tuple[FilterPlugin, ...] = tuple(profile.filters) + self.extra_filters  # in their order
        for plugin in self.all_filters:
            plugin.attach(state)
        # shape -> (mask, a pod of that shape), least recently used first; bounded: pods choose their shapes
        self._static_cache: Lru[Hashable, Tuple[np.ndarray, Pod]] = Lru(MAX_SHAPES)
        self._static_generation = -1
        # diagnoses by what the filters read from a pod, all for one state generation and outside inputs
        self._diagnoses: Lru[Hashable, Diagnosis] = Lru(MAX_SHAPES)
        self._diagnosed_at: Hashable = None
        self.diagnoses_shared = 0  # how many diagnoses were another pod's (for benchmarks and tests)

    # ------------------------------------------------------------ filtering
    def static_mask(self, pod: Pod) -> np.ndarray:
        """Alive nodes passing every static filter; cached per pod shape, the rows of changed nodes recomputed."""
        state = self.state
        if state.node_generation != self._static_generation:
            self._refresh_static(state)
        return self._static_cache.get_or_build((pod.shape_key, pod.node_name), lambda: self._static_of(pod))[0]

    def _static_of(self, pod: Pod) -> Tuple[np.ndarray, Pod]:
        """The mask, and a pod of that shape to compute changed rows with."""
        mask = self.state.alive[: self.state.size].copy()
        for plugin in self.static_filters:
            if plugin.applies(pod):
                mask &= plugin.filter(pod, self.state)
        return mask, pod

    def _refresh_static(self, state: ClusterState) -> None:
        rows = state.rows_changed_since(self._static_generation) if self._static_generation >= 0 else None
        self._static_generation = state.node_generation
        if rows is None:
            self._static_cache.clear()
            return
        self._static_cache.replace_values(lambda entry: entry if len(entry[0]) >= state.size
                                          else (resized(entry[0], state.size), entry[1]))
        for mask, pod in self._static_cache.values():
            applying = [plugin.filter(pod, state) for plugin in self.static_filters if plugin.applies(pod)]
            for row in rows:
                mask[row] = bool(state.alive[row]) and all(bool(passing[row]) for passing in applying)

    def feasible(self, pod: Pod, base: Optional[np.ndarray] = None) -> np.ndarray:
        """Boolean mask of nodes where the pod fits right now."""
        mask = self.static_mask(pod) if base is None else base
        for plugin in self.dynamic_filters:
            if plugin.applies(pod):
                mask = mask & plugin.filter(pod, self.state)
        for plugin in self.extra_filters:
            if plugin.applies(pod):
                mask = mask & plugin.filter(pod, self.state)
        return mask

    def fits_row(self, pod: Pod, row: int) -> bool:
        """Does the pod fit on this one node right now?  Every filter of the profile, in its order."""
        if not self.static_mask(pod)[row]:
            return False
        for plugin in self.dynamic_filters + list(self.extra_filters):
            if plugin.applies(pod) and not plugin.filter_row(pod, self.state, row):
                return False
        return True

    def diagnose(self, pod: Pod) -> Diagnosis:
        """Why the pod fits nowhere.  Pods alike in everything the filters read share one diagnosis until
        the cluster changes: a backlog of one workload's pods is explained once per change, not per pod."""
        state = self.state
        key = None if state.what_ifs_open else diagnosis_key(self.all_filters, pod)
        if key is None:
            return diagnose(self.profile, pod, state, self.extra_filters)
        stamp = (state.generation, tuple(plugin.outside_inputs(state) for plugin in self.all_filters))
        if stamp != self._diagnosed_at:
            self._diagnoses.clear()
            self._diagnosed_at = stamp
        shared = self._diagnoses.peek(key)
        if shared is not None:
            self.diagnoses_shared += 1
            return shared.copy()
        fresh = diagnose(self.profile, pod, state, self.extra_filters)
        fresh.resolvable_rows.flags.writeable = False
        self._diagnoses.get_or_build(key, lambda: fresh)
        return fresh.copy()

    # ------------------------------------------------------------ scoring
    def score(self, pod: Pod, rows: np.ndarray) -> np.ndarray:
        total = np.zeros(len(rows))
        for plugin, weight in self.profile.scores:
            values = plugin.score(pod, self.state, rows)
            if values is None:
                continue
            if weight == 1.0:
                total += values
            else:
                total += weight * values
        return total

    def nodes_to_score(self) -> int:
        """How many feasible nodes are scored: kube's percentageOfNodesToScore (adaptive: 50 % less 1 % per
        125 nodes, at least 5 %), never fewer than 100."""
        nodes = self.state.node_count
        percentage = self.percentage_to_score or max(5, 50 - nodes // 125)
        return nodes if percentage >= 100 else max(MIN_NODES_TO_SCORE, nodes * percentage // 100)

    def _sample(self, rows: np.ndarray) -> np.ndarray:
        """At most nodes_to_score() of the feasible rows, from a start that moves on each time (so pods
        spread over the whole cluster, as kube's nextStartNodeIndex does)."""
        wanted = self.nodes_to_score()
        if len(rows) <= wanted:
            return rows
        start = self._next_start % len(rows)
        self._next_start = start + wanted
        if start + wanted <= len(rows):
            return rows[start: start + wanted]
        return np.concatenate((rows[start:], rows[: start + wanted - len(rows)]))

    def select(self, pod: Pod, mask: np.ndarray) -> Optional[int]:
        """Row of the best feasible node among those scored (ties: the lowest row, so results are deterministic)."""
        rows = np.flatnonzero(mask)
        if not len(rows):
            return None
        if len(rows) == 1:
            return int(rows[0])
        rows = self._sample(rows)
        return int(rows[int(np.argmax(self.score(pod, rows)))])

    # ------------------------------------------------------------ deciding
    def schedule(self, pod: Pod) -> Decision:
        """Decide for one pod without changing the state (preemption, if on, is asked by its caller)."""
        row = self.select(pod, self.feasible(pod))
        if row is not None:
            return Decision(pod, node=self.state.name_of(row))
        diagnosis = self.diagnose(pod)
        return Decision(pod, message=diagnosis.message, status=diagnosis.status, diagnosis=diagnosis)

    def assume(self, pod: Pod, node: str) -> bool:
        """Account the pod on the node before the API confirms it (assume-then-bind)."""
        return self.state.place(pod, node, assumed=True, now=self.clock())
