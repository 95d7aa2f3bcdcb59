"""LoadAware: keep pods off nodes whose measured utilisation would exceed alpha.

With utilisation u (cpu and memory, from Prometheus), the requests r of pods
placed since that sample plus this pod's request, over allocatable A, a node
passes when u + r/A <= alpha for each resource.  A node without a fresh
sample is *unknown*: `allow` skips the check there, `deny` rejects it.
"""
from __future__ import annotations

from collections import Counter
from typing import Callable, Optional

import numpy as np

from scheduler.core.cache import ClusterState
from scheduler.core.framework import FilterPlugin, ScorePlugin, register_filter, register_score
from scheduler.core.model import CPU, MEMORY, Pod

RESOURCES = (CPU, MEMORY)


def projected_utilisation(pod: Optional[Pod], state: ClusterState, now: float, max_age: float) -> np.ndarray:
    """(2, rows) cpu and memory utilisation after placing `pod` (None: as is); NaN where stale or absent."""
    n = state.size
    util = state.util[:, :n].copy()
    util[:, now - state.util_time[:n] > max_age] = np.nan
    for i, resource in enumerate(RESOURCES):
        extra = state.since_sample[i, :n] + (pod.requests.get(resource, 0) if pod is not None else 0)
        util[i] += extra * state.inv_allocatable[state.column[resource], :n]
    return util


@register_filter
class LoadAware(FilterPlugin):
    name = "LoadAware"
    resolvable = True  # evicting pods lowers the estimated usage

    def __init__(self, alpha: float = 0.8, max_age: float = 120.0, on_missing: str = "allow",
                 clock: Callable[[], float] = lambda: 0.0) -> None:
        self.alpha = alpha
        self.max_age = max_age
        self.on_missing = on_missing
        self.clock = clock

    def applies(self, pod: Pod) -> bool:
        return True

    def filter(self, pod: Pod, state: ClusterState) -> np.ndarray:
        util = projected_utilisation(pod, state, self.clock(), self.max_age)
        missing = np.isnan(util[0]) | np.isnan(util[1])
        with np.errstate(invalid="ignore"):
            under = (util[0] <= self.alpha + 1e-9) & (util[1] <= self.alpha + 1e-9)
        return np.where(missing, self.on_missing == "allow", under)

    def explain(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Counter:
        util = projected_utilisation(pod, state, self.clock(), self.max_age)[:, rows]
        reasons: Counter = Counter()
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
    """Prefer nodes with lower measured (plus estimated) utilisation; unknown nodes score neutral 50."""

    name = "LoadAware"

    def __init__(self, max_age: float = 120.0, clock: Callable[[], float] = lambda: 0.0) -> None:
        self.max_age = max_age
        self.clock = clock

    def score(self, pod: Pod, state: ClusterState, rows: np.ndarray) -> Optional[np.ndarray]:
        util = projected_utilisation(pod, state, self.clock(), self.max_age)[:, rows]
        if np.isnan(util).all():
            return None
        clipped = np.clip(util, 0.0, 1.0)
        scores = (1.0 - np.fmax(clipped[0], clipped[1])) * 100.0
        return np.where(np.isnan(scores), 50.0, scores)
