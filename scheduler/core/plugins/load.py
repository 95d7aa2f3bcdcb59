"""LoadAware: keep pods off nodes whose measured utilisation would exceed alpha.

With utilisation u (cpu and memory, from Prometheus), the requests r of pods
placed since that sample plus this pod's request, over allocatable A, a node
passes when u + r/A <= alpha for each resource.  A node without a fresh
sample is *unknown*: `allow` skips the check there, `deny` rejects it.

To stay cheap on the hot path, LoadView keeps per node the *headroom* under
alpha in absolute units, (alpha - u) * A - r, updated only for the rows whose
inputs change; the filter is then one comparison per resource, like the
resource-fit filter.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable, Dict, Hashable, Optional, Set, Tuple

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import (
    ADDED,
    BUDGET_CHANGED,
    LOAD_CHANGED,
    NODE_CHANGED,
    POD_REMOVED,
    FilterPlugin,
    ScorePlugin,
    register_filter,
    register_score,
    take,
)
from scheduler.core.model import CPU, MEMORY, Pod

RESOURCES = (CPU, MEMORY)
UNKNOWN_SCORE = 50.0


def projected_utilisation(pod: Optional[Pod], state: ClusterState, now: float, max_age: float) -> np.ndarray:
    """(2, rows) cpu and memory utilisation after placing `pod` (None: as is); NaN where stale or absent."""
    n = state.size
    util: np.ndarray = state.load.util[:, :n].copy()
    util[:, now - state.load.util_time[:n] > max_age] = np.nan  # never-sampled rows are NaN already
    for i, resource in enumerate(RESOURCES):
        extra = state.load.since_sample[i, :n] + (pod.requests.get(resource, 0) if pod is not None else 0)
        util[i] += extra * state.inv_allocatable[state.column[resource], :n]
    return util


class LoadView:
    """Headroom under alpha and a load score per node, kept current row by row."""

    def __init__(self, alpha: float, max_age: float, on_missing: str, clock: Callable[[], float]) -> None:
        self.alpha = alpha
        self.max_age = max_age
        self.on_missing = on_missing
        self.clock = clock
        self.state: Optional[ClusterState] = None
        self.headroom = np.zeros((2, 0))
        self.score = np.zeros(0)
        self.known = np.zeros(0, dtype=bool)
        self._dirty: Set[int] = set()
        self._next_expiry = float("inf")
        # pass/fail masks per request shape (cpu, memory), patched row by row as the view changes
        self._masks: Dict[Tuple[int, int], np.ndarray] = {}
        self._generation = -1
        self.version = 0  # bumps whenever the headroom may have changed

    def sync(self, state: ClusterState) -> None:
        """Bring the view up to date with the state (cheap when little changed)."""
        if state is self.state and state.generation == self._generation and not self._dirty:
            if self._next_expiry == float("inf") or self.clock() < self._next_expiry:
                return
        self._generation = state.generation
        self.version += 1
        now = self.clock()
        if state is not self.state:
            self.state = state
            state.load.listeners.append(self._dirty.add)
            self._rebuild(now)
        elif state.size != len(self.score) or now >= self._next_expiry:
            self._rebuild(now)
        elif self._dirty:
            for row in self._dirty:
                if row < len(self.score):
                    self._update_row(row, now)
        self._dirty.clear()

    def _missing_value(self) -> float:
        """Headroom of a node without fresh data: unlimited (allow, or the source is down) or none (deny)."""
        state = self.state
        if self.on_missing == "allow" or (state is not None and not state.load.available):
            return np.inf
        return -np.inf

    def _rebuild(self, now: float) -> None:
        state = self.state
        assert state is not None
        util = projected_utilisation(None, state, now, self.max_age)
        n = state.size
        self.known = ~np.isnan(util).any(axis=0)
        self.headroom = np.empty((2, n))
        for i, resource in enumerate(RESOURCES):
            alloc = state.allocatable[state.column[resource], :n]
            self.headroom[i] = (self.alpha - util[i]) * alloc
        self.headroom[:, ~self.known] = self._missing_value()
        with np.errstate(invalid="ignore"):
            self.score = np.where(self.known, (1.0 - np.clip(np.fmax(util[0], util[1]), 0.0, 1.0)) * 100.0, UNKNOWN_SCORE)
        fresh_times = state.load.util_time[:n][self.known]
        self._next_expiry = float(fresh_times.min()) + self.max_age if len(fresh_times) else float("inf")
        self._masks.clear()

    def passes(self, cpu: int, memory: int) -> np.ndarray:
        """Rows where a pod requesting (cpu, memory) stays within alpha (cached per request shape)."""
        key = (cpu, memory)
        mask = self._masks.get(key)
        if mask is None:
            if len(self._masks) >= 256:
                self._masks.clear()
            mask = (self.headroom[0] >= cpu - 1e-6) & (self.headroom[1] >= memory - 1e-6)
            self._masks[key] = mask
        return mask

    def _update_row(self, row: int, now: float) -> None:
        state = self.state
        assert state is not None
        sampled = float(state.load.util_time[row])
        util = (float(state.load.util[0, row]), float(state.load.util[1, row]))
        known = now - sampled <= self.max_age and util[0] == util[0] and util[1] == util[1]
        self.known[row] = known
        if known:
            busiest = 0.0
            for i, resource in enumerate(RESOURCES):
                col = state.column[resource]
                alloc = int(state.allocatable[col, row])
                estimated = util[i] + (int(state.load.since_sample[i, row]) / alloc if alloc else 0.0)
                self.headroom[i, row] = (self.alpha - estimated) * alloc
                busiest = max(busiest, estimated)
            self.score[row] = (1.0 - min(max(busiest, 0.0), 1.0)) * 100.0
            self._next_expiry = min(self._next_expiry, sampled + self.max_age)
        else:
            self.headroom[:, row] = self._missing_value()
            self.score[row] = UNKNOWN_SCORE
        cpu_room, memory_room = float(self.headroom[0, row]), float(self.headroom[1, row])
        for (cpu, memory), mask in self._masks.items():
            mask[row] = cpu_room >= cpu - 1e-6 and memory_room >= memory - 1e-6


@register_filter
class LoadAware(FilterPlugin):
    name = "LoadAware"
    wakes_on = frozenset({LOAD_CHANGED, POD_REMOVED, NODE_CHANGED, BUDGET_CHANGED})
    node_aspects = frozenset({ADDED})
    resolvable = True  # evicting pods lowers the estimated usage

    def __init__(self, alpha: float = 0.8, max_age: float = 120.0, on_missing: str = "allow",
                 clock: Callable[[], float] = lambda: 0.0, view: Optional[LoadView] = None) -> None:
        self.alpha = alpha
        self.max_age = max_age
        self.on_missing = on_missing
        self.clock = clock
        self.view = view or LoadView(alpha, max_age, on_missing, clock)

    def pod_inputs(self, pod: Pod) -> Hashable:
        return pod.requests.get(CPU, 0), pod.requests.get(MEMORY, 0)

    def outside_inputs(self, state: ClusterState) -> Hashable:
        """Samples age out with the clock, not with a change of the state: the view counts its rebuilds."""
        self.view.sync(state)
        return self.view.version

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        self.view.sync(state)
        return self.view.passes(pod.requests.get(CPU, 0), pod.requests.get(MEMORY, 0))

    def explain(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Counter[str]:
        util = projected_utilisation(pod, state, self.clock(), self.max_age)[:, rows]
        reasons: Counter[str] = Counter()
        missing = np.isnan(util[0]) | np.isnan(util[1])
        if missing.any():
            reasons["node(s) had no fresh load metrics"] += int(missing.sum())
        for i, resource in enumerate(RESOURCES):
            with np.errstate(invalid="ignore"):
                over = int((~missing & (util[i] > self.alpha + 1e-9)).sum())
            if over:
                reasons[f"node(s) would exceed {resource} utilisation threshold {self.alpha:g}"] += over
        return reasons


@register_score
class LoadScore(ScorePlugin):
    """Prefer nodes with lower measured (plus estimated) utilisation; unknown nodes score a neutral 50."""

    name = "LoadAware"

    def __init__(self, view: Optional[LoadView] = None, max_age: float = 120.0,
                 clock: Callable[[], float] = lambda: 0.0) -> None:
        self.view = view or LoadView(1.0, max_age, "allow", clock)

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        self.view.sync(state)
        if not self.view.known.any():
            return None
        return take(self.view.score, rows, state.size)
